"""`harvest exec --proxy`: a proxy for the lifetime of one child command. The child gets
TOTARA_AJAX_URL and TOTARA_PROXY_TOKEN (and the non-secret TOTARA_WWWROOT, TOTARA_USER),
never the cookie or the sesskey. Its exit code is ours, and a signal it dies of is ours too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from ..errors import UsageError
from ..handoff.export import NESTED_MARKER, find_program, refuse_nested
from .server import open_proxy

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def exec_with_proxy(site: str, user: str, argv: list[str], *, timeout: float = 30.0) -> int:
    """Run *argv* with a proxy of the stored session; the child's exit code (or, for a child
    killed by a signal, this process dies of the same signal)."""
    refuse_nested()
    if not argv:
        raise UsageError("no command given: harvest exec --proxy --user U -- COMMAND [ARGS...]")
    running = open_proxy(site, user, timeout=timeout, quiet=True)
    try:
        session = running.forwarder.auth.session
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOTARA_")}
        env.update(
            {
                "TOTARA_AJAX_URL": running.url,
                "TOTARA_PROXY_TOKEN": running.token,
                "TOTARA_WWWROOT": session.wwwroot,
                "TOTARA_USER": session.user,
                NESTED_MARKER: "1",
            }
        )
        program = find_program(argv[0], env.get("PATH"))
        sys.stdout.flush()
        sys.stderr.flush()
        child = subprocess.Popen([program, *argv[1:]], env=env)
        previous = {
            sig: signal.signal(sig, lambda s, _f: child.send_signal(s)) for sig in FORWARDED_SIGNALS
        }
        try:
            code = child.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        running.stop()
    if code < 0:  # the child died of a signal: so do we, as a shell's parent would see it
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code
    return code
