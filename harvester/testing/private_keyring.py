"""A private Secret Service (dbus-daemon + gnome-keyring-daemon) in a temporary HOME.

Tests and demos store secrets in a real OS keyring without touching the user's own:

    with PrivateSecretService() as keyring_env:     # a dict of environment variables
        subprocess.run(["harvest", ...], env=keyring_env)

or from a shell, for one command:

    python -m harvester.testing.private_keyring -- pytest -q

Both daemons are started here and stopped here, by pid (gnome-keyring-daemon outlives its
D-Bus session, so it is never left to the bus to end). Needs Debian's dbus and gnome-keyring.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

SECRETS_BUS_NAME = "org.freedesktop.secrets"


class PrivateSecretService:
    """Start with start() or `with`; `env` then holds the variables that point at it."""

    def __init__(self, home: Path | None = None, *, startup_timeout: float = 10.0) -> None:
        self._own_home = home is None
        self.home = Path(tempfile.mkdtemp(prefix="harvester-home-")) if home is None else home
        self.startup_timeout = startup_timeout
        self.env: dict[str, str] = {}
        self._dbus: subprocess.Popen[bytes] | None = None
        self._keyring: subprocess.Popen[bytes] | None = None
        # Held in memory only, so restart_keyring() can unlock the same stored keyring again.
        self._unlock_password = secrets.token_urlsafe(16)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> dict[str, str]:
        for tool in ("dbus-daemon", "gnome-keyring-daemon"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} not found: apt-get install -y dbus gnome-keyring")
        dirs = {
            "HOME": self.home,
            "XDG_DATA_HOME": self.home / ".local/share",
            "XDG_CONFIG_HOME": self.home / ".config",
            "XDG_STATE_HOME": self.home / ".local/state",
            "XDG_CACHE_HOME": self.home / ".cache",
            "XDG_RUNTIME_DIR": self.home / ".run",
        }
        for path in dirs.values():
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        env = {**os.environ, **{k: str(v) for k, v in dirs.items()}}
        for stale in (
            "DBUS_SESSION_BUS_ADDRESS",
            "GNOME_KEYRING_CONTROL",
            "PYTHON_KEYRING_BACKEND",
        ):
            env.pop(stale, None)
        try:
            self._dbus = subprocess.Popen(
                ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # a Ctrl-C at the terminal is ours to handle, not its
            )
            assert self._dbus.stdout is not None
            address = self._dbus.stdout.readline().decode().strip()
            if not address:
                raise RuntimeError("dbus-daemon did not print its address")
            env["DBUS_SESSION_BUS_ADDRESS"] = address
            self._start_keyring(env)
            self._wait_for_bus_name(address)
        except BaseException:
            self.stop()
            raise
        self.env = env
        return env

    def _start_keyring(self, env: dict[str, str]) -> None:
        self._keyring = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        assert self._keyring.stdin is not None
        # The unlock password never appears in an argument list.
        self._keyring.stdin.write(self._unlock_password.encode())
        self._keyring.stdin.close()

    def restart_keyring(self) -> None:
        """Stop gnome-keyring-daemon (by pid) and start it again on the same bus and store,
        as after a crash or a logout/login of the desktop session."""
        if self._keyring is not None:
            stop_process(self._keyring)
        self._start_keyring(self.env)
        self._wait_for_bus_name(self.env["DBUS_SESSION_BUS_ADDRESS"])

    @property
    def keyring_pid(self) -> int | None:
        """The gnome-keyring-daemon's pid (tests SIGSTOP it to make the keyring hang)."""
        return self._keyring.pid if self._keyring is not None else None

    def _wait_for_bus_name(self, address: str) -> None:
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection

        bus = DBusAddress(
            "/org/freedesktop/DBus",
            bus_name="org.freedesktop.DBus",
            interface="org.freedesktop.DBus",
        )
        deadline = time.monotonic() + self.startup_timeout
        with open_dbus_connection(address) as conn:
            while time.monotonic() < deadline:
                if self._keyring is not None and self._keyring.poll() is not None:
                    raise RuntimeError("gnome-keyring-daemon exited while starting")
                reply = conn.send_and_get_reply(
                    new_method_call(bus, "NameHasOwner", "s", (SECRETS_BUS_NAME,))
                )
                if reply.body[0]:
                    return
                time.sleep(0.05)
        raise RuntimeError("the Secret Service did not appear on the private D-Bus session")

    def stop(self) -> None:
        """Stop exactly the two daemons started here, and remove the temporary HOME."""
        for proc in (self._keyring, self._dbus):
            if proc is not None:
                stop_process(proc)
        if self._dbus is not None and self._dbus.stdout is not None:
            self._dbus.stdout.close()
        self._keyring = self._dbus = None
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in (self._dbus, self._keyring) if p is not None]

    def __enter__(self) -> dict[str, str]:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """Stop exactly this process (and wait for it): SIGCONT, SIGTERM, then SIGKILL after 5 s."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def run(argv: list[str]) -> int:
    """Run one command inside a private Secret Service; return its exit code."""
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print(
            "usage: python -m harvester.testing.private_keyring -- COMMAND [ARGS...]",
            file=sys.stderr,
        )
        return 2
    service = PrivateSecretService()
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: object) -> None:
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        env = service.start()
        # Tell nested tools (the test suite's conftest) that a private keyring is already up.
        env["HARVEST_PRIVATE_KEYRING"] = str(service.home)
        child = subprocess.Popen(argv, env=env)
        return child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        service.stop()


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
