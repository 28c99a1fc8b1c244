"""A small OAuth 2 identity provider for the bundled site, served on a second loopback origin.

It is what a Totara site behind SSO looks like to a browser: the site's login page sends the
user here (`/authorize`), a two-step form asks for the username, then the password, and a good
sign-in returns to the site's callback with a one-time code, which the site turns into its own
session. Credentials are the site's users'; state travels in the form, not in cookies (cookies
on 127.0.0.1 are shared between ports).
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qs, urlencode

from .app import HTML, NO_CACHE, Request, Response
from .state import SiteState

WRONG_CREDENTIALS = "Incorrect username or password."


class IdentityProvider:
    def __init__(self, state: SiteState, site_wwwroot: str) -> None:
        self.state = state
        self.site_wwwroot = site_wwwroot

    def handle(self, request: Request) -> Response:
        if request.path != "/authorize":
            return Response(404, b"Not found", [("Content-Type", "text/plain; charset=utf-8")])
        fields = dict(request.query)
        if request.method == "POST":
            fields = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)

        def field(name: str) -> str:
            return fields.get(name, [""])[0]

        redirect_uri, state = field("redirect_uri"), field("state")
        if not redirect_uri.startswith(self.site_wwwroot + "/") or not state:
            return Response(400, b"invalid_request", [("Content-Type", "text/plain")])
        hidden = {"redirect_uri": redirect_uri, "state": state}
        if request.method != "POST" or field("step") != "password":
            if request.method == "POST" and field("username").strip():
                return self._page(password_step(hidden, field("username").strip()))
            return self._page(username_step(hidden, None))
        username = field("username").strip().lower()
        user = self.state.authenticate(username, field("password"))
        if user is None:
            return self._page(username_step(hidden, WRONG_CREDENTIALS))
        code = self.state.issue_code(user.username)
        location = f"{redirect_uri}?{urlencode({'code': code, 'state': state})}"
        return Response(303, b"", [("Location", location), HTML, *NO_CACHE])

    def _page(self, body: str) -> Response:
        html = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8" /><title>DevIdP: Sign in</title></head>
<body class="idp"><main id="idp-main"><h1>DevIdP</h1>
{body}
</main></body></html>
"""
        return Response(200, html.encode(), [HTML, *NO_CACHE])


def _hidden(values: dict[str, str]) -> str:
    return "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}" />' for k, v in values.items()
    )


def username_step(hidden: dict[str, str], error: str | None) -> str:
    alert = (
        f'<div id="idp-error" class="idp-error" role="alert">{escape(error)}</div>\n'
        if error
        else ""
    )
    return f"""{alert}<form id="idp-login" method="post" action="/authorize">{_hidden(hidden)}
<input type="hidden" name="step" value="username" />
<label for="idp-username">Email or username</label>
<input type="text" id="idp-username" name="username" autocomplete="username" />
<button type="submit" id="idp-next">Next</button>
</form>"""


def password_step(hidden: dict[str, str], username: str) -> str:
    return f"""<form id="idp-login" method="post" action="/authorize">{_hidden(hidden)}
<input type="hidden" name="step" value="password" />
<input type="hidden" name="username" value="{escape(username)}" />
<p>Signing in as <strong id="idp-who">{escape(username)}</strong></p>
<label for="idp-password">Password</label>
<input type="password" id="idp-password" name="password" autocomplete="current-password" />
<button type="submit" id="idp-signin">Sign in</button>
</form>"""
