"""`python -m harvester.devsite`: serve the bundled Totara-compatible site on 127.0.0.1.

The command line is fixed (other tools use it); extend it, never break it:
    python -m harvester.devsite [--port 0] [--cookie-suffix S] [--user NAME:PASSWORD]...
                                [--session-timeout SECONDS] [--lockout-threshold N]
Extensions (test-only switches): [--idp [button|redirect]] [--force-password-change NAME]...
                                 [--site-policy NAME]... [--maintenance] [--delay SECONDS]
                                 [--tls-cert PEM --tls-key PEM]
The first line of stdout is the base URL; with --idp the second is the identity provider's
URL. One access-log line per request goes to stderr; SIGTERM or SIGINT stops it (exit 0).
"""

from __future__ import annotations

import argparse
import signal
import ssl
import sys
from types import FrameType

from .server import DevSite


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
    return p


def _tls(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if not cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
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
            tls=_tls(args.tls_cert, args.tls_key),
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
