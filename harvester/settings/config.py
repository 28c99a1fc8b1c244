"""Site configuration: aliases and how to log in to each site (TOML in the user config dir).

    default_site = "lms"

    [sites.lms]
    url = "https://lms.example.com"
    cookie_name = "TotaraSessionprod"          # or cookie_prefix = "TotaraSession"
    login_url = "https://lms.example.com/login/index.php?noredirect=1"
    default_user = "alice"
    browser_channel = "chrome"                 # or browser_path, browser_endpoint, browser_args
    ca_file = "~/certs/intranet-ca.pem"        # the CA of a private certificate (docs/networks.md)
    proxy = "http://proxy.corp:3128"           # or "direct"; else HTTPS_PROXY and NO_PROXY
    client_cert = "~/certs/me.pem"             # mutual TLS; client_key when the key is apart
    steps = [                                  # unattended identity-provider login
      { click = ".potentialidp a" },
      { fill = "#idp-username", value = "{username}" },
      { click = "#idp-next" },
      { fill = "#idp-password", value = "{password}" },
      { click = "#idp-signin" },
    ]

Reading uses the standard TOML parser (line numbers in errors); `harvest site add|remove` edit
the file with tomlkit, so a person's comments and layout survive. The file never holds a secret:
steps name the password only as the placeholder `{password}`.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..site.wwwroot import Wwwroot

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

DEFAULT_COOKIE_PREFIX = "TotaraSession"
ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
STEP_ACTIONS = ("click", "fill", "press", "wait_for", "wait_for_url")


def alias_problem(alias: str) -> str:
    """What is wrong with *alias* as a site alias ("" when nothing): the one rule."""
    if ALIAS.match(alias):
        return ""
    return f"bad alias {alias[:60]!r}: an alias is letters, digits, '.', '_' and '-'"


COOKIE_NAME_OR_PREFIX = "give cookie_name or cookie_prefix, not both"


@dataclass(frozen=True)
class BrowserOptions:
    """Which browser runs the logins. Empty fields: choose automatically (browser/launch.py)."""

    path: str = ""  # an executable: Chromium, Chrome, Edge
    channel: str = ""  # Playwright's channel: chrome, chrome-beta, msedge, chromium
    endpoint: str = (
        ""  # a running browser: http(s)://… or ws://…/devtools/… (CDP), ws://… (Playwright server)
    )
    args: tuple[str, ...] = ()  # extra command-line flags for a browser harvester starts

    def merged(self, override: BrowserOptions) -> BrowserOptions:
        """*override*'s non-empty fields win (command line over config)."""
        return BrowserOptions(
            path=override.path or self.path,
            channel=override.channel or self.channel,
            endpoint=override.endpoint or self.endpoint,
            args=self.args + override.args,
        )

    def source(self) -> str:
        if self.endpoint:
            return f"the running browser at {self.endpoint}"
        if self.path:
            return f"the browser at {self.path}"
        if self.channel:
            return f"Playwright channel {self.channel!r}"
        return ""


@dataclass(frozen=True)
class NetworkOptions:
    """How a site is reached, as configured or given on the command line (network/ resolves
    them with the environment). Empty fields: not set here."""

    ca_file: str = ""
    insecure: bool = False
    proxy: str = ""  # a proxy URL, or "direct"
    client_cert: str = ""
    client_key: str = ""

    def merged(self, override: NetworkOptions) -> NetworkOptions:
        """*override*'s set fields win (command line over config)."""
        return NetworkOptions(
            ca_file=override.ca_file or self.ca_file,
            insecure=override.insecure or self.insecure,
            proxy=override.proxy or self.proxy,
            client_cert=override.client_cert or self.client_cert,
            client_key=override.client_key or (self.client_key if not override.client_cert else ""),
        )


@dataclass(frozen=True)
class LoginStep:
    """One action of a configured login: click, fill (value), press (value = key), wait_for,
    wait_for_url (selector = URL glob)."""

    action: str
    selector: str
    value: str = ""

    def describe(self) -> str:
        shown = f" {self.value!r}" if self.value else ""
        return f"{self.action} {self.selector!r}{shown}"


@dataclass(frozen=True)
class SiteProfile:
    """Everything harvester needs to know about one site; defaults fit a stock Totara."""

    wwwroot: Wwwroot  # a str given here is parsed once, in __post_init__
    alias: str | None = None
    cookie_name: str = ""  # exact name; empty: the first cookie that starts with cookie_prefix
    cookie_prefix: str = DEFAULT_COOKIE_PREFIX
    login_url: str = ""  # empty: <wwwroot>/login/index.php
    username_selector: str = "#username"
    password_selector: str = "#password"
    submit_selector: str = "#loginbtn"
    error_selector: str = "#loginerrormessage"
    steps: tuple[LoginStep, ...] = ()
    # the login form needs page scripts (a theme that writes it with JavaScript): skip the lean
    # login (documents only, no scripts) and use a full page from the start
    login_needs_scripts: bool = False
    default_user: str = ""
    browser: BrowserOptions = field(default_factory=BrowserOptions)
    network: NetworkOptions = field(default_factory=NetworkOptions)

    def __post_init__(self) -> None:
        object.__setattr__(self, "wwwroot", Wwwroot(self.wwwroot))

    @property
    def login_page(self) -> str:
        return self.login_url or self.wwwroot.login_url

    @property
    def name(self) -> str:
        return self.alias or self.wwwroot

    def cookie_matches(self, name: str) -> bool:
        return name == self.cookie_name if self.cookie_name else name.startswith(self.cookie_prefix)

    @property
    def cookie_label(self) -> str:
        return self.cookie_name or f"{self.cookie_prefix}*"


_KEYS = {
    "url",
    "cookie_name",
    "cookie_prefix",
    "login_url",
    "username_selector",
    "password_selector",
    "submit_selector",
    "error_selector",
    "steps",
    "login_needs_scripts",
    "default_user",
    "browser_path",
    "browser_channel",
    "browser_endpoint",
    "browser_args",
    "ca_file",
    "insecure",
    "proxy",
    "client_cert",
    "client_key",
}


def config_path() -> Path:
    """HARVEST_CONFIG, else config.toml in the user config dir (platformdirs)."""
    explicit = os.environ.get("HARVEST_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    from platformdirs import user_config_path

    return user_config_path("harvester") / "config.toml"


@dataclass
class Config:
    path: Path
    sites: dict[str, SiteProfile] = field(default_factory=dict)
    default_site: str = ""
    exists: bool = False

    def resolve(self, site: str) -> SiteProfile:
        """The profile for an alias or a URL ("": the configured default site)."""
        from ..inputs import text

        site = text(site, "the site (--site)").strip() or self.default_site
        if not site:
            raise UsageError(
                "no site given: pass --site URL|ALIAS, set HARVEST_SITE, or set default_site "
                f"in {self.path}"
            )
        if "://" not in site:
            profile = self.sites.get(site)
            if profile is None:
                known = ", ".join(sorted(self.sites)) or "none yet"
                raise UsageError(
                    f"unknown site alias {site!r} in {self.path} (known: {known}): "
                    f"add it with harvest site add {site} --url URL"
                )
            return profile
        return self.for_wwwroot(Wwwroot(site))

    def site_rows(self) -> list[dict[str, str | bool]]:
        """One row per configured site, for `harvest site list` (never a secret)."""
        return [
            {
                "alias": alias,
                "url": p.wwwroot,
                "default": alias == self.default_site,
                "cookie": p.cookie_label,
                "login": "steps" if p.steps else "form",
                "default_user": p.default_user,
                "browser": p.browser.source() or "automatic",
            }
            for alias, p in sorted(self.sites.items())
        ]

    def for_wwwroot(self, wwwroot: Wwwroot) -> SiteProfile:
        """The configured profile of this site, or the stock defaults."""
        for profile in self.sites.values():
            if profile.wwwroot == wwwroot:
                return profile
        return SiteProfile(wwwroot)


def load_config(path: Path | None = None) -> Config:
    """Read the config file; a missing file is an empty config. Errors name file and line."""
    from ..store.files import require_folder

    path = path or config_path()
    require_folder(path.parent, "its config file", "HARVEST_CONFIG (or XDG_CONFIG_HOME)")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(path)
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"cannot read the config file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: {_toml_error(exc)}") from None
    config = Config(path, exists=True)
    unknown = set(data) - {"default_site", "sites"}
    if unknown:
        raise _config_error(
            path, text, sorted(unknown)[0], f"unknown setting {sorted(unknown)[0]!r}"
        )
    sites = data.get("sites", {})
    if not isinstance(sites, dict):
        raise _config_error(path, text, "sites", "'sites' must be a table: [sites.ALIAS]")
    for alias, table in sites.items():
        config.sites[alias] = _profile(path, text, alias, table)
    default = data.get("default_site", "")
    if not isinstance(default, str):
        raise _config_error(path, text, "default_site", "default_site must be a string")
    if default and "://" not in default and default not in config.sites:
        raise _config_error(path, text, "default_site", f"default_site {default!r} is no alias")
    config.default_site = default
    return config


def _toml_error(exc: Exception) -> str:
    # tomllib: "Expected '=' after a key in a key/value pair (at line 3, column 6)"
    message = str(exc)
    found = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if found:
        what = message[: found.start()].strip()
        return f"line {found.group(1)}, column {found.group(2)}: {what}"
    return message


def _line_of(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    return None


def _config_error(path: Path, text: str, needle: str, message: str) -> UsageError:
    line = _line_of(text, needle)
    where = f"{path} line {line}" if line else str(path)
    return UsageError(f"{where}: {message}")


def _profile(path: Path, text: str, alias: str, table: Any) -> SiteProfile:
    header = f"sites.{alias}"

    def fail(message: str) -> UsageError:
        return _config_error(path, text, header, f"[{header}]: {message}")

    if alias_problem(alias):
        raise fail(alias_problem(alias))
    if not isinstance(table, dict):
        raise fail("must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise fail(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    for key, value in table.items():
        if key in ("login_needs_scripts", "insecure"):
            if not isinstance(value, bool):
                raise fail(f"{key} must be true or false")
        elif key not in ("steps", "browser_args") and not isinstance(value, str):
            raise fail(f"{key} must be a string")
    if "url" not in table:
        raise fail('no url: add url = "https://…"')
    if table.get("cookie_name") and table.get("cookie_prefix"):
        raise fail(COOKIE_NAME_OR_PREFIX)
    try:
        wwwroot = Wwwroot(table["url"])
        login = table.get("login_url", "")
        if login:
            Wwwroot(login)  # an http(s) URL without credentials
    except UsageError as exc:
        raise fail(exc.message) from None
    args = table.get("browser_args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise fail("browser_args must be a list of strings")
    steps = table.get("steps", [])
    if not isinstance(steps, list):
        raise fail('steps must be a list of tables: steps = [{ click = "…" }, …]')
    parsed = tuple(_step(s, fail) for s in steps)
    defaults = SiteProfile(wwwroot)
    return replace(
        defaults,
        alias=alias,
        cookie_name=table.get("cookie_name", ""),
        cookie_prefix=table.get("cookie_prefix", "") or defaults.cookie_prefix,
        login_url=login,
        username_selector=table.get("username_selector", "") or defaults.username_selector,
        password_selector=table.get("password_selector", "") or defaults.password_selector,
        submit_selector=table.get("submit_selector", "") or defaults.submit_selector,
        error_selector=table.get("error_selector", "") or defaults.error_selector,
        steps=parsed,
        login_needs_scripts=table.get("login_needs_scripts", False),
        default_user=table.get("default_user", ""),
        browser=BrowserOptions(
            path=table.get("browser_path", ""),
            channel=table.get("browser_channel", ""),
            endpoint=table.get("browser_endpoint", ""),
            args=tuple(args),
        ),
        network=NetworkOptions(
            ca_file=table.get("ca_file", ""),
            insecure=table.get("insecure", False),
            proxy=table.get("proxy", ""),
            client_cert=table.get("client_cert", ""),
            client_key=table.get("client_key", ""),
        ),
    )


def _step(step: Any, fail: Any) -> LoginStep:
    if not isinstance(step, dict):
        raise fail('each step is a table such as { click = "#next" }')
    actions = [a for a in STEP_ACTIONS if a in step]
    extra = set(step) - set(STEP_ACTIONS) - {"value"}
    if len(actions) != 1 or extra:
        raise fail(
            f"a step has exactly one of {', '.join(STEP_ACTIONS)} (and value for fill/press)"
        )
    action = actions[0]
    selector, value = step[action], step.get("value", "")
    if not isinstance(selector, str) or not selector or not isinstance(value, str):
        raise fail(f"{action} needs a non-empty string")
    if action in ("fill", "press") and not value:
        raise fail(f"{action} {selector!r} needs a value")
    return LoginStep(action, selector, value)


def parse_step(text: str) -> LoginStep:
    """A step from the command line: ACTION:SELECTOR, or ACTION:SELECTOR:VALUE for fill and
    press (`fill:#idp-username:{username}`, `click:.potentialidp a`)."""
    action, sep, rest = text.partition(":")
    if not sep or action not in STEP_ACTIONS or not rest:
        raise UsageError(
            f"bad --step {text!r}: ACTION:SELECTOR or fill:SELECTOR:VALUE "
            f"(actions: {', '.join(STEP_ACTIONS)})"
        )
    if action in ("fill", "press"):
        selector, sep, value = rest.rpartition(":")
        if not sep or not selector or not value:
            raise UsageError(f"bad --step {text!r}: {action} needs {action}:SELECTOR:VALUE")
        return LoginStep(action, selector, value)
    return LoginStep(action, rest)
