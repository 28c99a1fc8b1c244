"""Request routing of the bundled site: plain functions from a Request to a Response."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, quote, urlencode

from . import devapi, pages, webapi, weight
from .state import SessionRecord, SiteState, User

SESSION_ERROR = (
    "A server error that affects your login session was detected. "
    "Please log in again or restart your browser."
)
INVALID_LOGIN = "Invalid login, please try again"
COOKIES_DISABLED = "Unfortunately, cookies are currently not enabled in your browser"
LANDING_PATH = "/totara/dashboard/"
CHANGE_PASSWORD_PATH = "/login/change_password.php"
SITE_POLICY_PATH = "/admin/tool/sitepolicy/userpolicy.php"
OAUTH2_LOGIN_PATH = "/auth/oauth2/login.php"
OAUTH2_CALLBACK_PATH = "/admin/oauth2callback.php"
MAINTENANCE_RETRY_AFTER = "300"

NO_CACHE = [
    ("Cache-Control", "private, pre-check=0, post-check=0, max-age=0, no-transform"),
    ("Pragma", "no-cache"),
    ("Expires", "Mon, 20 Aug 1969 09:23:00 GMT"),
]
HTML = ("Content-Type", "text/html; charset=utf-8")
JSON = ("Content-Type", "application/json; charset=utf-8")
JSON_NO_CACHE = [
    ("Cache-Control", "no-store, no-cache, must-revalidate"),
    ("Pragma", "no-cache"),
    ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT"),
]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""

    def cookie(self, name: str) -> str | None:
        raw = self.headers.get("cookie")
        if not raw:
            return None
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(raw)
        except CookieError:
            return None
        morsel = jar.get(name)
        return morsel.value if morsel else None

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    drip: float = 0.0  # seconds between the body's bytes (a test switch: a dribbling answer)


class TotaraApp:
    """The site's behaviour, independent of the HTTP server that carries it."""

    def __init__(
        self,
        state: SiteState,
        cookie_suffix: str = "",
        idp: str | None = None,
        path: str = "",
        light: bool = False,
        dev_mode: bool = False,
    ) -> None:
        self.state = state
        self.light = light
        # GRAPHQL_DEVELOPMENT_MODE: the developer endpoints answer (devapi.py), else nothing
        self.dev_mode = dev_mode  # pages without a real Totara page's sub-resources (weight.py)
        self.cookie_name = f"TotaraSession{cookie_suffix}"
        # A site installed in a folder (wwwroot http://host/PREFIX): every URL lives under it,
        # and the session cookie's path is the folder plus "/" (docs/totara-protocol.md).
        self.path = path
        self.cookie_path = f"{path}/"
        self.wwwroot = ""  # set by the server once its port is known
        # An OAuth 2 identity provider on another origin (idp.py): "button" shows it under the
        # form (.potentialidp), "redirect" sends the login page straight to it.
        self.idp_mode = idp
        self.idp_url = ""  # set by the server once the provider's port is known

    # -- sessions, as PHP's session_start() does them ------------------------------------------
    def _session(self, request: Request, response_headers: list[tuple[str, str]]) -> SessionRecord:
        record = self.state.find(request.cookie(self.cookie_name))
        if record is None:
            record = self.state.start_anonymous()
            response_headers.append(self._set_cookie(record))
        return record

    def _set_cookie(self, record: SessionRecord) -> tuple[str, str]:
        secure = "; Secure" if self.wwwroot.startswith("https:") else ""
        same_site = self.state.faults.cookie_samesite
        extra = f"; SameSite={same_site}" if same_site else ""
        return (
            "Set-Cookie",
            f"{self.cookie_name}={record.sid}; path={self.cookie_path}{secure}; HttpOnly{extra}",
        )

    # -- dispatch ------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if self.path:  # only what lies in the site's folder is the site's
            if request.path == self.path:
                return self._redirect("/")
            if not request.path.startswith(self.path + "/"):
                return Response(404, pages.not_found().encode(), [HTML])
            request = replace(request, path=request.path[len(self.path) :])
        path = request.path
        if weight.is_asset(path):  # served without a session, as javascript.php and co. are
            found = None if self.light else weight.asset(path)
            if found is None:
                return Response(404, pages.not_found().encode(), [HTML])
            return Response(200, found[0], [("Content-Type", found[1]), weight.CACHE])
        if self.state.delay:
            time.sleep(self.state.delay)
        if self.state.maintenance:  # site-wide maintenance: every URL, ajax.php included
            return Response(
                503,
                pages.maintenance().encode(),
                [("Retry-After", MAINTENANCE_RETRY_AFTER), HTML, *NO_CACHE],
            )
        if path == "/totara/webapi/ajax.php":
            return self.ajax(request)
        if path == "/totara/webapi/dev_graphql_executor.php":
            return self.dev_executor(request)
        if path == "/totara/webapi/dev_graphql_schema.php":
            return self.dev_schema(request)
        routes = {
            "/login/index.php": self.login,
            "/login/logout.php": self.logout,
            "/totara/dashboard/": self.dashboard,
            "/totara/dashboard/index.php": self.dashboard,
            "/user/profile.php": self.profile,
            CHANGE_PASSWORD_PATH: self.change_password,
            SITE_POLICY_PATH: self.site_policy,
            "/": self.front_page,
            "/index.php": self.front_page,
        }
        if self.idp_mode:
            routes[OAUTH2_LOGIN_PATH] = self.oauth2_login
            routes[OAUTH2_CALLBACK_PATH] = self.oauth2_callback
        handler = routes.get(path)
        if handler is None:
            return Response(404, pages.not_found().encode(), [HTML])
        headers: list[tuple[str, str]] = []
        session = self._session(request, headers)
        with session.lock:  # requests on one session queue up, as on a real site
            response = handler(request, session)
        response.headers[:0] = headers
        return response

    # -- helpers -------------------------------------------------------------------------------
    def _page(
        self, session: SessionRecord, title: str, body_id: str, content: str, status: int = 200
    ) -> Response:
        html = pages.page(
            wwwroot=self.wwwroot,
            session=session,
            user=self.state.user_of(session),
            title=title,
            body_id=body_id,
            content=content,
            session_timeout=self.state.session_timeout,
            light=self.light,
            decoy_sesskey=self.state.faults.decoy_sesskey,
        )
        return Response(status, html.encode(), [HTML, *NO_CACHE])

    def _redirect(self, path: str) -> Response:
        location = self.wwwroot + path
        return Response(
            303, pages.redirect_body(location).encode(), [("Location", location), HTML, *NO_CACHE]
        )

    def _require_login(self, request: Request, session: SessionRecord) -> User | Response:
        user = self.state.user_of(session)
        if user is None:
            query = f"?{urlencode(request.query, doseq=True)}" if request.query else ""
            session.wantsurl = request.path + query
            return self._redirect("/login/index.php")
        action = self.state.required_action(user)
        if action is not None and request.path != action:
            return self._redirect(action)  # nothing else until the user acts
        return user

    def _landing(self, session: SessionRecord, user: User) -> str:
        action = self.state.required_action(user)
        if action is not None:
            return action
        target = session.wantsurl or LANDING_PATH
        session.wantsurl = None
        return target

    def _idp_start(self, session: SessionRecord) -> str:
        return f"{OAUTH2_LOGIN_PATH}?id=1&wantsurl=%2F&sesskey={session.sesskey}"

    # -- pages ---------------------------------------------------------------------------------
    def login(self, request: Request, session: SessionRecord) -> Response:
        if request.method == "POST":
            return self._login_post(request, session)
        user = self.state.user_of(session)
        testsession = request.param("testsession")
        if testsession is not None:
            if user is not None and testsession == str(user.id):
                return self._redirect(self._landing(session, user))
            session.loginerrormsg = COOKIES_DISABLED
        if user is not None:
            content = pages.already_logged_in(self.wwwroot, session, user)
            return self._page(session, "Totara: Log in to the site", "page-login-index", content)
        error, session.loginerrormsg = session.loginerrormsg, None
        if self.idp_mode == "redirect" and error is None and request.param("noredirect") != "1":
            return self._redirect(self._idp_start(session))
        faults = self.state.faults
        content = pages.login_form(self.wwwroot, session, error, action=faults.form_action)
        if faults.form_by_script:
            content = pages.rendered_by_script(content)
        if self.idp_mode:
            content += pages.potential_idps(self.wwwroot + self._idp_start(session))
        page = self._page(session, "Totara: Log in to the site", "page-login-index", content)
        if faults.decoy_cookie:  # set before the real one, as a stale or foreign cookie would be
            decoy = f"{faults.decoy_cookie}=decoy{session.sid[:8]}; path={self.cookie_path}"
            page.headers.insert(0, ("Set-Cookie", decoy))
        return page

    def _login_post(self, request: Request, session: SessionRecord) -> Response:
        form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)

        def field(name: str) -> str:
            return form.get(name, [""])[0]

        if field("logintoken") != session.sesskey:
            session.loginerrormsg = SESSION_ERROR
            return self._redirect("/login/index.php")
        user = self.state.authenticate(field("username").strip().lower(), field("password"))
        if user is None:
            session.loginerrormsg = INVALID_LOGIN
            return self._redirect("/login/index.php")
        new = self.state.log_in(session, user)
        response = self._redirect(f"/login/index.php?testsession={user.id}")
        response.headers.insert(0, self._set_cookie(new))
        return response

    def logout(self, request: Request, session: SessionRecord) -> Response:
        sesskey = request.param("sesskey")
        if sesskey is None and request.method == "POST":
            sesskey = parse_qs(request.body.decode("utf-8", "replace")).get("sesskey", [None])[0]
        if self.state.user_of(session) is None:
            return self._redirect("/")
        if sesskey != session.sesskey:
            content = pages.logout_confirm(self.wwwroot, session)
            return self._page(session, "Totara: Log out", "page-login-logout", content)
        self.state.terminate(session)
        fresh = self.state.start_anonymous()
        response = self._redirect("/")
        response.headers.insert(0, self._set_cookie(fresh))
        return response

    def dashboard(self, request: Request, session: SessionRecord) -> Response:
        user = self._require_login(request, session)
        if isinstance(user, Response):
            return user
        return self._page(
            session, "Totara: Dashboard", "page-totara-dashboard-index", pages.dashboard(user)
        )

    def profile(self, request: Request, session: SessionRecord) -> Response:
        user = self._require_login(request, session)
        if isinstance(user, Response):
            return user
        return self._page(session, "Totara: Profile", "page-user-profile", pages.profile(user))

    def change_password(self, request: Request, session: SessionRecord) -> Response:
        user = self._require_login(request, session)
        if isinstance(user, Response):
            return user
        content = pages.change_password(self.wwwroot, session)
        return self._page(session, "Totara: Change password", "page-login-change_password", content)

    def site_policy(self, request: Request, session: SessionRecord) -> Response:
        user = self._require_login(request, session)
        if isinstance(user, Response):
            return user
        content = pages.site_policy(self.wwwroot, session)
        return self._page(
            session, "Totara: Site policies", "page-admin-tool-sitepolicy-userpolicy", content
        )

    # -- login through the identity provider (auth/oauth2's shape) -----------------------------
    def oauth2_login(self, request: Request, session: SessionRecord) -> Response:
        if request.param("sesskey") != session.sesskey:
            session.loginerrormsg = SESSION_ERROR
            return self._redirect("/login/index.php?noredirect=1")
        callback = quote(self.wwwroot + OAUTH2_CALLBACK_PATH, safe="")
        location = (
            f"{self.idp_url}/authorize?client_id=totara&response_type=code"
            f"&redirect_uri={callback}&state={session.sesskey}"
        )
        return Response(
            303, pages.redirect_body(location).encode(), [("Location", location), HTML, *NO_CACHE]
        )

    def oauth2_callback(self, request: Request, session: SessionRecord) -> Response:
        if request.param("state") != session.sesskey:
            session.loginerrormsg = SESSION_ERROR
            return self._redirect("/login/index.php?noredirect=1")
        user = self.state.redeem_code(request.param("code") or "")
        if user is None:
            session.loginerrormsg = INVALID_LOGIN
            return self._redirect("/login/index.php?noredirect=1")
        new = self.state.log_in(session, user)
        response = self._redirect(f"/login/index.php?testsession={user.id}")
        response.headers.insert(0, self._set_cookie(new))
        return response

    def front_page(self, _request: Request, session: SessionRecord) -> Response:
        return self._page(session, "Totara Learn", "page-site-index", pages.front_page())

    # -- the AJAX GraphQL endpoint -------------------------------------------------------------
    def ajax(self, request: Request) -> Response:
        response = self._ajax(request)
        response.drip = self.state.faults.drip
        override = self.state.faults.ajax_override()
        if override is not None:
            response.status, response.body, response.headers = override
        return response

    def dev_executor(self, request: Request) -> Response:
        """Query text with the session cookie, no sesskey (developer mode only: devapi.py)."""
        if not self.dev_mode:
            return Response(200, b"", [HTML])  # the controller dies: an empty answer
        headers = [JSON, *JSON_NO_CACHE]
        if request.method != "POST":
            body = webapi.error_body(webapi.ONLY_POST, category=None)
            return Response(400, webapi.encode(body), headers)
        cookie_headers: list[tuple[str, str]] = []
        session = self._session(request, cookie_headers)
        with session.lock:
            user = self.state.user_of(session)
        answer = devapi.execute(webapi.parse(request.body), user)
        return Response(200, webapi.encode(answer), cookie_headers + headers)

    def dev_schema(self, _request: Request) -> Response:
        """The whole schema as SDL, without a session (developer mode only)."""
        if not self.dev_mode:
            return Response(200, b"", [HTML])
        disposition = ("Content-Disposition", 'attachment; filename="totara.graphqls"')
        return Response(
            200,
            devapi.schema_sdl().encode("utf-8"),
            [("Content-Type", "text/plain; charset=utf-8"), disposition, *NO_CACHE],
        )

    def _ajax(self, request: Request) -> Response:
        headers = [JSON, *JSON_NO_CACHE]
        if request.method != "POST":
            body = webapi.error_body(webapi.ONLY_POST, category=None)
            return Response(400, webapi.encode(body), headers)
        payload = webapi.parse(request.body)
        if webapi.is_nosession(payload):
            return Response(
                200, webapi.encode(webapi.answer(payload, self.state, None, None)), headers
            )
        cookie_headers: list[tuple[str, str]] = []
        session = self._session(request, cookie_headers)
        if self.state.ended_at_first_call(session):  # the cookie now names no session
            session = self._session(request, cookie_headers)
        sesskey = request.headers.get("x-totara-sesskey") or request.param("sesskey")
        with session.lock:
            answer = webapi.answer(payload, self.state, session, sesskey)
        return Response(200, webapi.encode(answer), cookie_headers + headers)
