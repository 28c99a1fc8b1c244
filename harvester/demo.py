"""`harvest demo`: the main job end to end against the bundled site, each step printed."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable

from .devsite import DevSite
from .errors import NoSession
from .keyring_access import backend_name
from .login_flow import login
from .store import SESSION_SERVICE, SessionStore

DEMO_USER = "alice"


def run_demo(say: Callable[[str], None], *, timeout: float = 30.0) -> int:
    """Start a site, log alice in, call ajax.php with the stored session, clean up. Returns 0."""
    import httpx

    password = secrets.token_urlsafe(12)  # throwaway; never printed
    store = SessionStore()
    with DevSite({DEMO_USER: password}, cookie_suffix="demo") as site:
        say(f"1. Started the bundled Totara site at {site.url} (session cookie {site.cookie_name})")
        say(f"2. Logging {DEMO_USER} in through headless Chromium (keyring: {backend_name()})")
        session = login(site.url, DEMO_USER, password, store=store, timeout=timeout)
        say(f"   Logged in {DEMO_USER} at {site.url} (cookie {session.cookie_name})")
        try:
            stored = store.load(site.url, DEMO_USER)
            if stored is None:
                raise NoSession("the demo session was not found in the keyring after login")
            service = SESSION_SERVICE.format(wwwroot=site.url)
            say(f"3. Read back from the keyring: service {service!r}, user {DEMO_USER!r}")
            say("4. POST /totara/webapi/ajax.php with the stored cookie and X-Totara-Sesskey:")
            with httpx.Client(timeout=timeout) as http:
                for operation in ("totara_webapi_status", "core_user_own_profile"):
                    answer = http.post(
                        f"{site.url}/totara/webapi/ajax.php",
                        headers={
                            "Cookie": stored.cookie_header,
                            "X-Totara-Sesskey": stored.sesskey,
                        },
                        json={"operationName": operation, "variables": {}},
                    )
                    say(
                        f"   {operation} -> HTTP {answer.status_code} "
                        f"{json.dumps(answer.json(), separators=(',', ':'))}"
                    )
        finally:
            store.delete(site.url, DEMO_USER)
        say("5. Removed the demo session from the keyring and stopped the site.")
    return 0
