"""`harvest demo`: the main job end to end against the bundled site, each step printed.

Login, the stored session read back, env, ajax.php calls, expiry and refresh, logout. The demo
site and its password are throwaway; secrets are still shown masked, as everywhere else.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable

from .devsite import DevSite
from .devsite.server import site_folder
from .errors import NoSession, SessionExpired, UsageError
from .handoff.client import TotaraClient
from .handoff.export import variables
from .logins.flow import login
from .site.wwwroot import Wwwroot
from .store.keyring_access import backend_name
from .store.session import Session
from .store.sessions import SESSION_SERVICE, SessionStore
from .upkeep.logout import logout
from .upkeep.refresh import refresh_hook

DEMO_USER = "alice"
# A real Totara operation that needs a logged-in user: that user's own job assignments.
USER_OPERATION = "totara_job_my_assignments"
# The bundled site's user menu (its theme's markup: other themes say it otherwise)
_USER_TEXT = re.compile(r'<span class="usertext">(You are logged in as) <a [^>]*>([^<]*)</a>')


def _shown_user(url: str, session: Session, timeout: float) -> str:
    """Who the site's home page says is logged in, fetched with the session's cookie."""
    from .site.http import credential_client, exchange

    with credential_client(timeout) as http:
        page = exchange(
            http, "GET", f"{url}/", timeout=timeout, where=url,
            headers={"Cookie": session.cookie_header},
        )  # fmt: skip
    found = _USER_TEXT.search(page.text)
    return " ".join(found.groups()) if found else "no user"


def _masked(value: str) -> str:
    return f"… ({len(value)} characters)"


def run_demo(say: Callable[[str], None], *, timeout: float = 30.0, path: str = "") -> int:
    """Walk alice through the whole job; returns 0. Leaves nothing stored. *path* installs the
    bundled site in that folder (e.g. /totara), as Totara under a sub-path."""
    try:
        path = site_folder(path)
    except ValueError as exc:
        raise UsageError(f"--path is {exc}") from None
    password = secrets.token_urlsafe(12)  # throwaway; never printed
    store = SessionStore()
    with DevSite({DEMO_USER: password}, cookie_suffix="demo", path=path) as site:
        url = Wwwroot(site.url)  # the bundled site's address, parsed once
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
                for operation in ("totara_webapi_status", USER_OPERATION):
                    [answer] = client.request([(operation, {})])
                    say(f"   {operation} -> {json.dumps(answer, separators=(',', ':'))}")
                say(f"   GET {url}/ with the cookie shows: {_shown_user(url, stored, timeout)}")
                say("6. The site ends the session (as after its idle timeout):")
                site.state.expire_sessions(DEMO_USER)
                try:
                    client.call("totara_webapi_status")
                except SessionExpired as exc:
                    say(f"   ajax.php now answers {exc.category}")
            with TotaraClient(
                url, stored, timeout=timeout, on_expired=refresh_hook(store, timeout)
            ) as client:
                data = client.call(USER_OPERATION)
                say("7. With the saved password the client logs in again by itself and retries:")
                say(f"   {USER_OPERATION} -> {json.dumps(data, separators=(',', ':'))}")
                say(f"   (logins the site has seen: {site.count('POST', '/login/index.php')})")
            note = logout(store, stored.site, DEMO_USER, timeout=timeout).note
            say(f"8. {note[:1].upper()}{note[1:]}")
        finally:
            store.delete(url, DEMO_USER)
            store.delete_password(url, DEMO_USER)
        say("9. Removed the saved password and stopped the site.")
    return 0
