"""`harvest demo`: the main job end to end against the bundled site, each step printed.

Login, the stored session read back, env, ajax.php calls, expiry and refresh, logout. The demo
site and its password are throwaway; secrets are still shown masked, as everywhere else.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable

from .client import TotaraClient
from .devsite import DevSite
from .errors import NoSession, SessionExpired, UsageError
from .export import variables
from .keyring_access import backend_name
from .login_flow import login
from .logout import logout
from .refresh import refresh_hook
from .store import SESSION_SERVICE, SessionStore

DEMO_USER = "alice"


def _masked(value: str) -> str:
    return f"… ({len(value)} characters)"


def run_demo(say: Callable[[str], None], *, timeout: float = 30.0, path: str = "") -> int:
    """Walk alice through the whole job; returns 0. Leaves nothing stored. *path* installs the
    bundled site in that folder (e.g. /totara), as Totara under a sub-path."""
    if path and not path.startswith("/"):
        raise UsageError(f"--path is a folder such as /totara, not {path!r}")
    password = secrets.token_urlsafe(12)  # throwaway; never printed
    store = SessionStore()
    with DevSite({DEMO_USER: password}, cookie_suffix="demo", path=path) as site:
        url = site.url
        say(f"1. Started the bundled Totara site at {url} (session cookie {site.cookie_name})")
        say(f"2. Logging {DEMO_USER} in through headless Chromium (keyring: {backend_name()})")
        session = login(url, DEMO_USER, password, store=store, save_password=True, timeout=timeout)
        say(f"   Logged in {DEMO_USER} at {url} (cookie {session.cookie_name})")
        try:
            stored = store.load(url, DEMO_USER)
            if stored is None:
                raise NoSession("the demo session was not found in the keyring after login")
            say(
                f"3. Read back from the keyring: service "
                f"{SESSION_SERVICE.format(wwwroot=url)!r}, user {DEMO_USER!r}"
            )
            say("4. harvest env would export (values masked here):")
            for name, value in variables(stored).items():
                shown = (
                    value if name in ("TOTARA_WWWROOT", "TOTARA_COOKIE_NAME") else _masked(value)
                )
                say(f"   {name}={shown}")
            say("5. POST /totara/webapi/ajax.php with the stored cookie and X-Totara-Sesskey:")
            with TotaraClient(url, stored, timeout=timeout) as client:
                for operation in ("totara_webapi_status", "core_user_own_profile"):
                    [answer] = client.request([(operation, {})])
                    say(f"   {operation} -> {json.dumps(answer, separators=(',', ':'))}")
                say("6. The site ends the session (as after its idle timeout):")
                site.state.expire_sessions(DEMO_USER)
                try:
                    client.call("totara_webapi_status")
                except SessionExpired as exc:
                    say(f"   ajax.php now answers {exc.category}")
            with TotaraClient(
                url, stored, timeout=timeout, on_expired=refresh_hook(store, timeout)
            ) as client:
                data = client.call("core_user_own_profile")
                say("7. With the saved password the client logs in again by itself and retries:")
                say(f"   core_user_own_profile -> {json.dumps(data, separators=(',', ':'))}")
                say(f"   (logins the site has seen: {site.count('POST', '/login/index.php')})")
            note = logout(store, url, DEMO_USER, timeout=timeout).note
            say(f"8. {note[:1].upper()}{note[1:]}")
        finally:
            store.delete(url, DEMO_USER)
            store.delete_password(url, DEMO_USER)
        say("9. Removed the saved password and stopped the site.")
    return 0
