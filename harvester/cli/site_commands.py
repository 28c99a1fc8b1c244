"""`harvest site add|list|remove`: site aliases in the config file."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .app import app
from .options import BrowserPathOption, ChannelOption, JsonOption

site_app = typer.Typer(
    help="Site aliases and how to log in to each (the config file; HARVEST_CONFIG overrides).",
    no_args_is_help=True,
)
app.add_typer(site_app, name="site")


@site_app.command("add")
def site_add(
    alias: Annotated[str, typer.Argument(help="Short name to use with --site.")],
    url: Annotated[str, typer.Option("--url", help="The site's wwwroot.")],
    cookie_name: Annotated[str, typer.Option("--cookie-name", help="Exact cookie name.")] = "",
    cookie_prefix: Annotated[
        str, typer.Option("--cookie-prefix", help="Cookie name prefix (default TotaraSession).")
    ] = "",
    login_url: Annotated[str, typer.Option("--login-url", help="Where the login starts.")] = "",
    username_selector: Annotated[str, typer.Option("--username-selector")] = "",
    password_selector: Annotated[str, typer.Option("--password-selector")] = "",
    submit_selector: Annotated[str, typer.Option("--submit-selector")] = "",
    error_selector: Annotated[
        str, typer.Option("--error-selector", help="Where a refused login shows its message.")
    ] = "",
    step: Annotated[
        list[str] | None,
        typer.Option(
            "--step",
            help="A login step, repeatable, in order: click:SEL, fill:SEL:VALUE, press:SEL:KEY, "
            "wait_for:SEL, wait_for_url:GLOB; VALUE may be {username} or {password}.",
        ),
    ] = None,
    login_needs_scripts: Annotated[
        bool,
        typer.Option(
            "--login-needs-scripts",
            help="The login form needs page scripts: log in on full pages, not lean ones.",
        ),
    ] = False,
    default_user: Annotated[str, typer.Option("--default-user")] = "",
    browser_path: BrowserPathOption = "",
    channel: ChannelOption = "",
    browser_endpoint: Annotated[
        str, typer.Option("--browser-endpoint", help="A running browser for this site's logins.")
    ] = "",
    browser_arg: Annotated[
        list[str] | None, typer.Option("--browser-arg", help="Extra browser flag; repeatable.")
    ] = None,
    default: Annotated[bool, typer.Option("--default", help="Make this the default site.")] = False,
    ca_file: Annotated[
        str,
        typer.Option("--ca-file", metavar="PEM", help="Trust the CAs in this PEM file for it."),
    ] = "",
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Never check its certificate (development).")
    ] = False,
    proxy: Annotated[
        str, typer.Option("--proxy", metavar="URL", help='Its proxy, or "direct".')
    ] = "",
    client_cert: Annotated[
        str, typer.Option("--client-cert", metavar="PEM", help="Client certificate (mutual TLS).")
    ] = "",
    client_key: Annotated[
        str, typer.Option("--client-key", metavar="PEM", help="The client certificate's key.")
    ] = "",
) -> None:
    """Add (or replace) a site alias in the config file."""
    from ..settings.config import load_config, parse_step
    from ..settings.config_file import add_site

    path = add_site(
        alias,
        {
            "url": url,
            "cookie_name": cookie_name,
            "cookie_prefix": cookie_prefix,
            "login_url": login_url,
            "username_selector": username_selector,
            "password_selector": password_selector,
            "submit_selector": submit_selector,
            "error_selector": error_selector,
            "steps": [parse_step(text) for text in step or []],
            "login_needs_scripts": login_needs_scripts,
            "default_user": default_user,
            "browser_path": browser_path,
            "browser_channel": channel,
            "browser_endpoint": browser_endpoint,
            "browser_args": list(browser_arg or []),
            "ca_file": ca_file,
            "insecure": insecure,
            "proxy": proxy,
            "client_cert": client_cert,
            "client_key": client_key,
        },
        make_default=default,
    )
    typer.echo(f"Site {alias} is {load_config(path).sites[alias].wwwroot} (in {path})")


@site_app.command("passphrase")
def site_passphrase(
    alias: Annotated[str, typer.Argument(help="The site whose client key it unlocks.")],
    forget: Annotated[bool, typer.Option("--forget", help="Remove it from the keyring.")] = False,
) -> None:
    """Keep the passphrase of a site's client key in the keyring (read from one line of stdin,
    or a hidden prompt); harvester unlocks the key with it and never asks for it again."""
    import getpass
    import sys

    from ..logins.flow import read_password_line
    from ..settings.config import load_config
    from ..settings.reach import forget_passphrase, save_passphrase

    profile = load_config().resolve(alias)
    if forget:
        forget_passphrase(profile)
        typer.echo(f"Forgot the passphrase of {alias}'s client key")
        return
    if sys.stdin.isatty():
        secret = getpass.getpass(f"Passphrase of {alias}'s client key: ")
    else:
        secret = read_password_line(sys.stdin)
    key = save_passphrase(profile, secret)
    typer.echo(f"Saved the passphrase of {key} in the keyring")


@site_app.command("list")
def site_list(as_json: JsonOption = False) -> None:
    """List the configured sites."""
    from ..settings.config import load_config

    config = load_config()
    rows = config.site_rows()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"No sites in {config.path}: add one with harvest site add ALIAS --url URL")
        return
    for row in rows:
        mark = "*" if row["default"] else " "
        user = f", user {row['default_user']}" if row["default_user"] else ""
        typer.echo(
            f"{mark} {row['alias']}: {row['url']} (cookie {row['cookie']}, login by "
            f"{row['login']}{user}, browser {row['browser']})"
        )


@site_app.command("remove")
def site_remove(alias: Annotated[str, typer.Argument(help="The alias to remove.")]) -> None:
    """Remove a site alias from the config file (stored sessions stay until logout)."""
    from ..settings.config_file import remove_site

    typer.echo(f"Removed site {alias} from {remove_site(alias)}")
