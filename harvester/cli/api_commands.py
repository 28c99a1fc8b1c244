"""`harvest operations`: what the site's API offers (the operation catalogue), for people and,
with --json, for scripts."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from .app import app
from .options import JsonOption, SiteOption, TimeoutOption, UserOption, reaches_site


def complete_operation(incomplete: str) -> list[str]:
    """Shell completion of operation names (bash, zsh, fish), from the catalogue."""
    from ..operations.catalogue import shipped

    return sorted(name for name in shipped().operations if name.startswith(incomplete))


@app.command()
def operations(
    word: Annotated[
        str,
        typer.Argument(
            help="An operation's name (shows it), or a word to search names and components.",
            autocompletion=complete_operation,
        ),
    ] = "",
    mutations: Annotated[bool, typer.Option("--mutations", help="Only mutations.")] = False,
    queries: Annotated[bool, typer.Option("--queries", help="Only queries.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List and search the operations of Totara's ajax API, or show one with its variables.

    The catalogue is made from a Totara source tree (docs/operations.md); sites with plugins
    have more. `harvest operations NAME` shows the variables (* required), the fields of their
    input types, a --variables skeleton and a ready harvest request line.
    """
    from ..errors import UsageError
    from ..operations.catalogue import describe, shipped

    if mutations and queries:
        raise UsageError("--mutations and --queries exclude each other")
    catalogue = shipped()
    operation = catalogue.get(word)
    if operation is not None:
        shown = describe(operation, catalogue)
        if as_json:
            typer.echo(json.dumps(shown, indent=1))
            return
        _print_operation(shown)
        return
    kind = "mutation" if mutations else "query" if queries else None
    found = catalogue.search(word, kind)
    if as_json:
        rows = [
            {"name": o.name, "component": o.component, "type": o.kind, "nosession": o.nosession}
            for o in found
        ]
        typer.echo(json.dumps({"totara": catalogue.label, "operations": rows}, indent=1))
        return
    if not found:
        near = catalogue.closest(word)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise UsageError(f"no operation of {catalogue.label} matches {word!r}{hint}")
    width = max(len(o.name) for o in found)
    for o in found:
        typer.echo(f"{o.name:<{width}}  {o.kind:<8}  {o.component}")
    total = len(catalogue.operations)
    typer.echo(f"{len(found)} of {total} operations of {catalogue.label}", err=True)


def _print_operation(shown: dict[str, object]) -> None:
    name = str(shown["name"])
    session = "no session needed" if shown["nosession"] else "needs a session (--user)"
    typer.echo(f"{name}: a {shown['type']} of {shown['component']}, {session}; {shown['totara']}")
    variables = shown["variables"]
    assert isinstance(variables, list)
    typer.echo("Variables (* required):" if variables else "Variables: none")
    for v in variables:
        typer.echo(f"  {'*' if v['required'] else ' '} ${v['name']}: {v['type']}")
    types = shown["types"]
    assert isinstance(types, dict)
    for type_name, entry in types.items():
        if entry["kind"] == "enum":
            typer.echo(f"enum {type_name}: {' | '.join(entry['values'])}")
            continue
        typer.echo(f"input {type_name}:")
        for f in entry["fields"]:
            typer.echo(f"  {'*' if f['required'] else ' '} {f['name']}: {f['type']}")
    skeleton = json.dumps(shown["skeleton"])
    typer.echo(f"--variables skeleton (required only): {skeleton}")
    user = "" if shown["nosession"] else " --user USER"
    quoted = "'" + skeleton.replace("'", "'\\''") + "'"
    typer.echo(f"Run it: harvest request {name}{user} --variables {quoted}")


@app.command()
@reaches_site
def query(
    text: Annotated[
        str, typer.Argument(help="GraphQL query text, @FILE, or - for standard input.")
    ],
    user: UserOption = "",
    site: SiteOption = "",
    variables: Annotated[
        str, typer.Option("--variables", help="JSON object, @file, or - for standard input.")
    ] = "{}",
    timeout: TimeoutOption = 30.0,
) -> None:
    """Run query text on a site in developer mode, with the stored session; print the answer.

    The developer API (dev_graphql_executor.php) answers only where the site's config.php
    defines GRAPHQL_DEVELOPMENT_MODE; elsewhere this says so. The text is checked as GraphQL
    before anything is sent. Build new requests here, then persist them (docs/operations.md).
    """
    from ..errors import UsageError
    from ..handoff.devapi import run_query
    from ..handoff.request import read_text, read_variables

    if text == "-" and variables == "-":
        raise UsageError("the query and --variables cannot both come from standard input")
    answer = run_query(
        read_text(text, "the query")[0],
        read_variables(variables),
        site=site,
        user=user,
        timeout=timeout,
    )
    typer.echo(json.dumps(answer, ensure_ascii=False))


@app.command()
@reaches_site
def schema(
    site: SiteOption = "",
    output: Annotated[
        str, typer.Option("--output", "-o", help="Write the SDL to FILE (mode 0600).")
    ] = "",
    force: Annotated[
        bool, typer.Option("--force", help="Replace an --output file harvester did not write.")
    ] = False,
    timeout: TimeoutOption = 30.0,
) -> None:
    """Save a developer-mode site's whole GraphQL schema (SDL) from dev_graphql_schema.php.

    No session is needed. On a site that is not in developer mode this says so.
    """
    from ..handoff.cookie_files import HARVESTER_COMMENT
    from ..handoff.devapi import fetch_schema
    from ..handoff.export import check_output, write_output
    from ..settings.config import load_config

    if output:
        check_output(output, force=force)
    wwwroot = load_config().resolve(site).wwwroot
    sdl = fetch_schema(wwwroot, timeout=timeout)
    if not output:
        typer.echo(sdl, nl=False)
        return
    write_output(output, f"{HARVESTER_COMMENT}the GraphQL schema of {wwwroot}\n{sdl}", force=force)
    typer.echo(f"Wrote the schema of {wwwroot} to {output}", err=True)


@app.command()
def curl(
    operation: Annotated[
        str,
        typer.Argument(help="Persisted operation name.", autocompletion=complete_operation),
    ],
    user: UserOption = "",
    site: SiteOption = "",
    variables: Annotated[
        str, typer.Option("--variables", help="JSON object, @file, or - for standard input.")
    ] = "{}",
    inline: Annotated[
        bool,
        typer.Option(
            "--inline", help="Put the cookie and sesskey in the command (they reach your history)."
        ),
    ] = False,
    no_check: Annotated[
        bool, typer.Option("--no-check", help="Skip the catalogue's check of the variables.")
    ] = False,
) -> None:
    """Print a ready curl command for an operation, in the form of Totara's documentation.

    It uses $TOTARA_COOKIE and $TOTARA_SESSKEY (eval "$(harvest env --user U)" sets them), so no
    secret lands in your shell history; --inline puts the values in. Checked like harvest
    request; nothing is sent.
    """
    from ..handoff.curl import curl_command
    from ..handoff.request import read_variables
    from ..operations.checks import check_request
    from ..settings.config import load_config
    from ..settings.targets import stored_session
    from ..store.sessions import SessionStore

    operations = [(operation, read_variables(variables))]
    check_request(operations, variables=not no_check)
    if operation.endswith("_nosession") and not user:
        wwwroot, session = load_config().resolve(site).wwwroot, None
    else:
        profile, stored = stored_session(site, user, SessionStore())
        wwwroot, session = profile.wwwroot, stored
    typer.echo(curl_command(wwwroot, operations, session, inline=inline))


@app.command("import-curl")
def import_curl(
    source: Annotated[
        str, typer.Argument(help="A file holding the pasted command, or - for standard input.")
    ] = "-",
    user: Annotated[
        str, typer.Option("--user", "-u", help="Whose session it is (stored under this name).")
    ] = "",
    site: SiteOption = "",
    timeout: TimeoutOption = 30.0,
) -> None:
    """Store the session of a request copied with Copy as cURL (Chromium or Firefox).

    The way in for sites whose login harvester cannot drive: copy one of the page's ajax.php
    requests from the browser's dev tools (Network), then paste it here. Its cookie (whatever
    its suffix) and sesskey are checked against the site, then stored like a login. Nothing of
    the paste is printed.
    """
    from ..handoff.curl import import_session
    from ..handoff.request import read_file

    text, _where = read_file(source, "the paste")
    session = import_session(text, user, site=site, timeout=timeout)
    typer.echo(
        f"Imported {session.user}'s session at {session.wwwroot} (cookie {session.cookie_name})"
    )


@app.command()
@reaches_site
def proxy(
    user: UserOption = "",
    site: SiteOption = "",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="0: a free one.")] = 0,
    bind: Annotated[
        str, typer.Option("--bind", help="Listen here (loopback unless you say otherwise).")
    ] = "127.0.0.1",
    socket_path: Annotated[
        str, typer.Option("--socket", help="Also serve a Unix socket at PATH (mode 0600).")
    ] = "",
    token_file: Annotated[
        str,
        typer.Option("--token-file", help="Write the token to FILE (0600) instead of printing it."),
    ] = "",
    allow_origin: Annotated[
        list[str],
        typer.Option("--allow-origin", help="Let a web page of this origin in (repeatable)."),
    ] = [],  # noqa: B006  (Typer's way for repeatable options)
    dev: Annotated[
        bool, typer.Option("--dev", help="Forward the developer API endpoints too.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No access line per request.")] = False,
    timeout: TimeoutOption = 30.0,
) -> None:
    """Serve the session on loopback: GraphQL tools POST to the proxy, never see a secret.

    It forwards POST /totara/webapi/ajax.php (and, with --dev, the developer endpoints) with
    the stored cookie and sesskey, renews the session with the saved password when the site
    ends it, and checks requests as harvest request does. Every request needs the token
    (Authorization: Bearer TOKEN) and the proxy's own Host; a web page's Origin is refused
    unless --allow-origin names it. Ctrl-C stops it.
    """
    import signal
    import threading

    from ..errors import UsageError
    from ..proxy.server import open_proxy

    if bind not in ("127.0.0.1", "::1", "localhost"):
        typer.echo(f"harvest: warning: listening on {bind}, beyond loopback", err=True)
    if token_file:
        from ..handoff.export import check_output

        check_output(token_file)
    running = open_proxy(
        site,
        user,
        bind="127.0.0.1" if bind == "localhost" else bind,
        port=port,
        socket_path=socket_path,
        origins=frozenset(allow_origin),
        dev=dev,
        timeout=timeout,
        quiet=quiet,
    )
    stop = threading.Event()
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda _sig, _frame: stop.set())
        typer.echo(f"harvest proxy: {running.url}")
        if token_file:
            from ..handoff.cookie_files import HARVESTER_COMMENT
            from ..handoff.export import write_output

            write_output(token_file, f"{HARVESTER_COMMENT}harvest proxy token\n{running.token}\n")
            typer.echo(f"harvest proxy: send Authorization: Bearer <the token in {token_file}>")
        else:
            typer.echo(f"harvest proxy: send Authorization: Bearer {running.token}")
        if socket_path:
            typer.echo(f"harvest proxy: also on {socket_path}")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    except UsageError:
        raise
    finally:
        running.stop()
