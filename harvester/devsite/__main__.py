"""`python -m harvester.devsite`: serve the bundled Totara-compatible site on 127.0.0.1.

The command line is fixed (other tools use it); extend it, never break it:
    python -m harvester.devsite [--port 0] [--cookie-suffix S] [--user NAME:PASSWORD]...
                                [--session-timeout SECONDS] [--lockout-threshold N]
Extensions: [--path /PREFIX] [--tls-cert PEM --tls-key PEM [--client-ca PEM]] [--light]
            [--dev-mode]
Test-only switches: [--idp [button|redirect]] [--force-password-change NAME]...
                    [--site-policy NAME]... [--maintenance] [--delay SECONDS]
                    [--ajax-status CODE [--ajax-body TEXT]] [--drip SECONDS] [--oversize MIB]
                    [--bomb MIB] [--form-action URL] [--decoy-cookie NAME] [--form-by-script]
                    [--decoy-sesskey before|only]
                    [--ajax-redirect URL] [--cookie-samesite Strict|Lax|None]
The first line of stdout is the base URL; with --idp the second is the identity provider's
URL. One access-log line per request goes to stderr; SIGTERM or SIGINT stops it (exit 0).
"""

from __future__ import annotations

import argparse
import signal
import ssl
import sys
from types import FrameType

from .faults import Faults
from .server import DevSite, site_folder


def _user(text: str) -> tuple[str, str]:
    name, sep, password = text.partition(":")
    if not sep or not name or not password:
        raise argparse.ArgumentTypeError(f"expected NAME:PASSWORD, got {text!r}")
    return name.strip().lower(), password


def _suffix(text: str) -> str:
    if text and not text.isalnum():
        raise argparse.ArgumentTypeError("the cookie suffix is letters and digits only")
    return text


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m harvester.devsite",
        description="Serve a small Totara-compatible site on 127.0.0.1 for tests and demos.",
    )
    p.add_argument("--port", type=int, default=0, help="port to bind (default 0: a free one)")
    p.add_argument(
        "--cookie-suffix",
        type=_suffix,
        default="",
        metavar="S",
        help="session cookie is TotaraSession<S> (default: none)",
    )
    p.add_argument(
        "--user",
        type=_user,
        action="append",
        default=[],
        metavar="NAME:PASSWORD",
        help="a user who can log in; repeat for more (default: alice:alice-password)",
    )
    p.add_argument(
        "--session-timeout",
        type=_positive,
        default=7200.0,
        metavar="SECONDS",
        help="idle time after which a session dies on the server (default 7200)",
    )
    p.add_argument(
        "--lockout-threshold",
        type=int,
        default=20,
        metavar="N",
        help="failed logins that lock an account; 0 never locks (default 20)",
    )
    p.add_argument(
        "--idp",
        nargs="?",
        const="button",
        choices=("button", "redirect"),
        help="add an OAuth 2 identity provider on a second free port: 'button' (default) shows "
        "it under the login form, 'redirect' sends the login page straight to it",
    )
    p.add_argument(
        "--force-password-change",
        action="append",
        default=[],
        metavar="NAME",
        type=str.lower,
        help="after login this user lands on /login/change_password.php; repeatable",
    )
    p.add_argument(
        "--site-policy",
        action="append",
        default=[],
        metavar="NAME",
        type=str.lower,
        help="after login this user must accept the site policy; repeatable",
    )
    p.add_argument(
        "--maintenance",
        action="store_true",
        help="site-wide maintenance: every URL answers 503 with Retry-After: 300",
    )
    p.add_argument(
        "--delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="every answer of the site waits this long (a slow site)",
    )
    p.add_argument("--tls-cert", metavar="PEM", help="serve https with this certificate chain")
    p.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    p.add_argument(
        "--client-ca",
        metavar="PEM",
        help="with --tls-cert: require a client certificate issued by this CA (mutual TLS)",
    )
    p.add_argument(
        "--path",
        type=_folder,
        default="",
        metavar="/PREFIX",
        help="serve the whole site in this folder, as a Totara installed under it "
        "(wwwroot http://127.0.0.1:PORT/PREFIX, cookie path /PREFIX/)",
    )
    p.add_argument(
        "--light",
        action="store_true",
        help="pages without the scripts, stylesheets, images and font a real Totara page loads",
    )
    p.add_argument(
        "--dev-mode",
        action="store_true",
        help="GraphQL developer mode: dev_graphql_executor.php runs query text with the session "
        "cookie, dev_graphql_schema.php serves the schema (without it both answer nothing)",
    )
    faults = p.add_argument_group("misbehaviour (test switches)")
    faults.add_argument(
        "--ajax-status",
        type=int,
        default=0,
        metavar="CODE",
        help="ajax.php answers this HTTP status with --ajax-body (a proxy's 502, a PHP 500)",
    )
    faults.add_argument(
        "--ajax-body", default="", metavar="TEXT", help="the body of --ajax-status (HTML)"
    )
    faults.add_argument(
        "--ajax-redirect",
        default="",
        metavar="URL",
        help="ajax.php answers 307 to URL (a gateway bouncing API calls elsewhere)",
    )
    faults.add_argument(
        "--cookie-samesite",
        choices=["Strict", "Lax", "None"],
        default="",
        help="the session cookie's SameSite attribute (None needs --tls-cert)",
    )
    faults.add_argument(
        "--ajax-json",
        action="store_true",
        help='--ajax-body is JSON (application/json), e.g. odd shapes like {"errors":5}',
    )
    faults.add_argument(
        "--drip",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="ajax.php's answer leaves one byte every SECONDS",
    )
    faults.add_argument(
        "--oversize", type=int, default=0, metavar="MIB", help="ajax.php answers MIB of JSON"
    )
    faults.add_argument(
        "--bomb",
        type=int,
        default=0,
        metavar="MIB",
        help="ajax.php answers MIB of zeros behind Content-Encoding: gzip (a compression bomb)",
    )
    faults.add_argument(
        "--form-action",
        default="",
        metavar="URL",
        help="the login form posts to URL (another origin: an injected or broken theme)",
    )
    faults.add_argument(
        "--decoy-cookie",
        default="",
        metavar="NAME",
        help="the login page sets a cookie NAME (e.g. TotaraSessionAAA) before the real one",
    )
    faults.add_argument(
        "--form-by-script",
        action="store_true",
        help="the login form is written into the page by a script (a theme that needs JS)",
    )
    faults.add_argument(
        "--decoy-sesskey",
        choices=["before", "only"],
        default="",
        help="logged-in pages carry decoy sesskeys before M.cfg's own ('before'), or M.cfg "
        "carries a wrong one and nothing else does ('only')",
    )
    faults.add_argument(
        "--end-new-sessions",
        type=int,
        default=0,
        metavar="N",
        help="the first N sessions that log in are ended at their first ajax.php call (as "
        "another login of the same user ends them where concurrent logins are limited)",
    )
    return p


def _folder(text: str) -> str:
    try:
        return site_folder(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _tls(cert: str | None, key: str | None, client_ca: str | None) -> ssl.SSLContext | None:
    if not cert:
        if client_ca:
            raise SystemExit("--client-ca needs --tls-cert (mutual TLS is a TLS setting)")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if client_ca:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    users = dict(args.user) if args.user else None
    try:
        site = DevSite(
            users,
            port=args.port,
            cookie_suffix=args.cookie_suffix,
            session_timeout=args.session_timeout,
            lockout_threshold=args.lockout_threshold,
            log_stream=sys.stderr,
            idp=args.idp,
            force_password_change=args.force_password_change,
            site_policy=args.site_policy,
            maintenance=args.maintenance,
            delay=args.delay,
            tls=_tls(args.tls_cert, args.tls_key, args.client_ca),
            path=args.path,
            faults=Faults(
                ajax_status=args.ajax_status,
                ajax_body=args.ajax_body,
                ajax_content_type=(
                    "application/json; charset=utf-8"
                    if args.ajax_json
                    else "text/html; charset=utf-8"
                ),
                drip=args.drip,
                oversize_mib=args.oversize,
                bomb_mib=args.bomb,
                form_action=args.form_action,
                decoy_cookie=args.decoy_cookie,
                form_by_script=args.form_by_script,
                decoy_sesskey=args.decoy_sesskey,
                ajax_redirect=args.ajax_redirect,
                cookie_samesite=args.cookie_samesite,
                end_new_sessions=args.end_new_sessions,
            ),
            light=args.light,
            dev_mode=args.dev_mode,
        )
    except (OSError, ssl.SSLError) as exc:
        why = exc.strerror or str(exc)
        print(f"devsite: cannot listen on 127.0.0.1:{args.port}: {why}", file=sys.stderr)
        return 5
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:  # entered before the URL is printed: a signal right after it still stops cleanly
        print(site.url, flush=True)
        if site.idp_url:
            print(site.idp_url, flush=True)
        site.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        site.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
