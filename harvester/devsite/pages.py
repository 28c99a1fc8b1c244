"""HTML pages of the bundled site, shaped like Totara's: M.cfg in the head, body classes, forms."""

from __future__ import annotations

import json
from html import escape

from . import weight
from .state import SessionRecord, User


def php_json(value: object) -> str:
    """json_encode() with PHP's defaults: compact, slashes escaped as `\\/`."""
    return json.dumps(value, separators=(",", ":")).replace("/", "\\/")


def page(
    *,
    wwwroot: str,
    session: SessionRecord,
    user: User | None,
    title: str,
    body_id: str,
    content: str,
    session_timeout: float,
    light: bool = False,
    decoy_sesskey: str = "",
) -> str:
    """A page of the site; unless *light*, with a real Totara page's sub-resources
    (weight.py): more for a logged-in page, as the dashboard a login lands on has."""
    cfg = {
        "wwwroot": wwwroot,
        "homeurl": {},
        "sesskey": DECOY_SESSKEY if decoy_sesskey == "only" and user else session.sesskey,
        "sessiontimeout": str(int(session_timeout)),
        "sessiontimeoutwarning": "1200",
        "themerev": "1764190000",
        "slasharguments": 1,
        "theme": "ventura",
        "iconsystemmodule": "core/icon_system_flex",
        "jsrev": "1764190000",
        "admin": "admin",
        "svgicons": True,
        "usertimezone": "Europe/London",
        "contextid": 1,
        "langrev": 1764190000,
        "templaterev": "1764190000",
        "developerdebug": False,
    }
    cfg_json = php_json(cfg)
    # page-login-index -> "format-site path-login lang-en", as Moodle's body classes go
    path = body_id.removeprefix("page-").rsplit("-", 1)[0]
    classes = f"format-site path-{path} lang-en"
    if user is None:
        classes += " notloggedin"
    if user is None:
        usermenu = (
            f'<span class="login">You are not logged in. '
            f'(<a href="{escape(wwwroot)}/login/index.php">Log in</a>)</span>'
        )
    else:
        usermenu = (
            f'<span class="usertext">You are logged in as '
            f'<a href="{escape(wwwroot)}/user/profile.php?id={user.id}">'
            f"{escape(user.firstname)} {escape(user.lastname)}</a> "
            f'(<a href="{logout_link(wwwroot, session)}">Log out</a>)</span>'
        )
    landing = user is not None
    head_weight = "" if light else weight.head_tags(wwwroot, landing=landing)
    decoys = DECOYS if decoy_sesskey == "before" and landing else ""
    body_weight = "" if light else weight.body_tags(wwwroot, landing=landing)
    return f"""<!DOCTYPE html>
<html dir="ltr" lang="en" xml:lang="en">
<head>
<title>{escape(title)}</title>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1.0" />
{decoys}<script>
//<![CDATA[
var M = {{}}; M.yui = {{}};
M.pageloadstarttime = new Date();
M.cfg = {cfg_json};
//]]>
</script>
{head_weight}
</head>
<body id="{body_id}" class="{classes}">
<div id="page-wrapper">
<header class="totaraNav"><div class="totaraNav_prim--side">{usermenu}</div></header>
<div id="page" class="container-fluid">
<div id="region-main" role="main">
{content}
</div>
</div>
<footer id="page-footer"><div class="logininfo">{usermenu}</div></footer>
</div>
{body_weight}
</body>
</html>
"""


# --decoy-sesskey: what a theme or a plugin may put in a page before M.cfg; none is the session's
DECOY_SESSKEY = "DecoyKey00"
DECOYS = """<!-- cached fragment: {"sesskey":"Cached0001"} -->
<script>var plugin_cfg = {"sesskey":"Plugin0001","component":"block_decoy"};</script>
"""


def logout_link(wwwroot: str, session: SessionRecord) -> str:
    return f"{escape(wwwroot)}/login/logout.php?sesskey={session.sesskey}"


def login_form(wwwroot: str, session: SessionRecord, error: str | None, action: str = "") -> str:
    error_html = (
        f'<div id="loginerrormessage" class="alert alert-danger" role="alert">{escape(error)}</div>\n'
        if error
        else ""
    )
    return f"""<div class="loginbox">
<h2 class="loginbox__title">Log in</h2>
{error_html}<form class="loginform" action="{escape(action or wwwroot + "/login/index.php")}" method="post" id="login">
<input id="anchor" type="hidden" name="anchor" value="" />
<input type="hidden" name="logintoken" value="{session.sesskey}" />
<div class="loginform__username">
<label for="username">Username</label>
<input type="text" name="username" id="username" size="15" value="" autocomplete="username" />
</div>
<div class="loginform__password">
<label for="password">Password</label>
<input type="password" name="password" id="password" size="15" value="" autocomplete="current-password" />
</div>
<div class="loginform__submit">
<button type="submit" class="btn btn-primary" id="loginbtn">Log in</button>
</div>
</form>
<div class="forgetpass"><a href="{escape(wwwroot)}/login/forgot_password.php">Forgotten your username or password?</a></div>
<div class="cookiesenabled">Cookies must be enabled in your browser</div>
</div>"""


def already_logged_in(wwwroot: str, session: SessionRecord, user: User) -> str:
    return f"""<div class="box generalbox" id="notice">
<p>You are already logged in as {escape(user.firstname)} {escape(user.lastname)}, you need to log out before logging in as different user.</p>
<div class="buttons">
<form method="post" action="{escape(wwwroot)}/login/logout.php"><input type="hidden" name="sesskey" value="{session.sesskey}" /><button type="submit" class="btn btn-primary">Log out</button></form>
<form method="get" action="{escape(wwwroot)}/"><button type="submit" class="btn">Cancel</button></form>
</div>
</div>"""


def logout_confirm(wwwroot: str, session: SessionRecord) -> str:
    return f"""<div class="box generalbox" id="notice">
<p>Do you really want to log out?</p>
<div class="buttons">
<form method="get" action="{escape(wwwroot)}/login/logout.php"><input type="hidden" name="sesskey" value="{session.sesskey}" /><button type="submit" class="btn btn-primary">Continue</button></form>
<form method="get" action="{escape(wwwroot)}/"><button type="submit" class="btn">Cancel</button></form>
</div>
</div>"""


def dashboard(user: User) -> str:
    return f"""<h2>Dashboard</h2>
<div class="block block_current_learning"><h3>Current Learning</h3>
<p>Welcome back, {escape(user.firstname)}. You do not have any current learning.</p></div>"""


def profile(user: User) -> str:
    return f"""<h2>{escape(user.firstname)} {escape(user.lastname)}</h2>
<dl class="userprofile"><dt>Username</dt><dd>{escape(user.username)}</dd>
<dt>Email address</dt><dd>{escape(user.email)}</dd></dl>"""


def front_page() -> str:
    return """<h2>Totara Learn</h2>
<p>A Totara-compatible site bundled with harvester, for tests and demos.</p>"""


def redirect_body(location: str) -> str:
    url = escape(location)
    return f"""<!DOCTYPE html>
<html><head><title>Redirect</title><meta http-equiv="refresh" content="0; url={url}" /></head>
<body><div id="redirect"><p>This page should automatically redirect. If nothing is happening please use the continue link below.<br /><a href="{url}">Continue</a></p></div></body></html>
"""


def not_found() -> str:
    return "<!DOCTYPE html>\n<html><head><title>Not found</title></head><body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>\n"


def potential_idps(url: str) -> str:
    """The identity-provider buttons Totara shows below the login form."""
    return f"""
<div class="potentialidplist">
<h3 class="login-identityproviders__title">Log in using your account on:</h3>
<div class="potentialidp"><a href="{escape(url)}" title="DevIdP" class="btn btn-secondary">DevIdP</a></div>
</div>"""


def change_password(wwwroot: str, session: SessionRecord) -> str:
    return f"""<div class="alert alert-info">You must change your password to proceed.</div>
<form action="{escape(wwwroot)}/login/change_password.php" method="post" id="mform1">
<input type="hidden" name="sesskey" value="{session.sesskey}" />
<label for="id_password">Current password</label><input type="password" name="password" id="id_password" />
<label for="id_newpassword1">New password</label><input type="password" name="newpassword1" id="id_newpassword1" />
<label for="id_newpassword2">New password (again)</label><input type="password" name="newpassword2" id="id_newpassword2" />
<input type="submit" name="submitbutton" id="id_submitbutton" value="Save changes" />
</form>"""


def site_policy(wwwroot: str, session: SessionRecord) -> str:
    return f"""<h2>Site policies</h2>
<p>You must agree to the following policies before you can use this site.</p>
<form action="{escape(wwwroot)}/admin/tool/sitepolicy/userpolicy.php" method="post" id="mform1">
<input type="hidden" name="sesskey" value="{session.sesskey}" />
<label><input type="checkbox" name="policy1" value="1" /> I agree to the Terms of use</label>
<input type="submit" name="submitbutton" id="id_submitbutton" value="Submit" />
</form>"""


def maintenance() -> str:
    """The site-wide maintenance page (climaintenance.html): served with 503 for every URL."""
    return """<!DOCTYPE html>
<html><head><meta charset="utf-8" /><title>Site under maintenance</title></head>
<body><div id="maintenance_message"><h1>Site under maintenance</h1>
<p>This site is undergoing maintenance and is currently not available.</p></div></body></html>
"""


def rendered_by_script(content: str) -> str:
    """*content* written into the page by a script, as some themes render their login form:
    a browser without JavaScript sees no form."""
    return (
        '<div id="login-root"></div>\n<script>\n'
        f"document.getElementById('login-root').innerHTML = {json.dumps(content)};\n"
        "</script>"
    )
