"""`harvest schedule`: run `harvest refresh --all` periodically, the platform's way.

A systemd user timer where a user manager runs, else a crontab entry. `show` prints exactly
what `install` would write; `remove` undoes it.
"""

from __future__ import annotations

import math
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import HarvestError, UsageError

UNIT = "harvester-refresh"
CRON_MARK = "# harvester-refresh"


@dataclass(frozen=True)
class Plan:
    backend: str  # "systemd" or "cron"
    files: dict[Path, str]  # systemd unit files to write
    cron_lines: list[str]
    commands: list[list[str]]  # what install runs after writing


def harvest_executable() -> str:
    found = shutil.which("harvest")
    if found:
        return os.path.abspath(found)
    return os.path.abspath(sys.argv[0])


def unit_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


MINIMUM_SCHEDULE_EVERY = 60.0  # a scheduled refresh more often than a minute only hammers the site
DAY_MINUTES = 1440


def whole_seconds(every: float) -> int:
    """*every* as whole seconds, or a UsageError: neither backend keeps fractions."""
    if every != int(every):
        raise UsageError(
            f"a schedule keeps whole seconds: {every:g}s is not one "
            f"(use {int(every)}s or {int(every) + 1}s)"
        )
    return int(every)


def systemd_units(every: float, harvest: str) -> dict[str, str]:
    """A oneshot service and a timer that starts it every *every* seconds, exactly (no random
    delay: the asked interval is the interval)."""
    seconds = whole_seconds(every)
    service = f"""[Unit]
Description=Refresh harvester's Totara sessions (harvest refresh --all)

[Service]
Type=oneshot
# Runs in your user manager, so it reaches your session's Secret Service (keyring). On a
# headless server: loginctl enable-linger $USER, and keep an unlocked keyring running.
ExecStart={systemd_quoted(harvest)} refresh --all
"""
    timer = f"""[Unit]
Description=Refresh harvester's Totara sessions every {seconds}s

[Timer]
OnActiveSec=60s
OnUnitActiveSec={seconds}s
AccuracySec=1s

[Install]
WantedBy=timers.target
"""
    return {f"{UNIT}.service": service, f"{UNIT}.timer": timer}


def cron_schedules(every: float) -> list[str]:
    """The crontab time fields that together run a job every *every* seconds, exactly.

    cron keeps an interval exactly when it is whole minutes that divide a day: the day's run
    times then repeat every day, and group by minute of the hour into hours an equal step apart
    (every 90 minutes: `0 0-23/3` and `30 1-23/3`). Any other interval is refused, naming the
    nearest ones cron keeps."""
    seconds = whole_seconds(every)
    minutes, rest = divmod(seconds, 60)
    if rest or DAY_MINUTES % max(minutes, 1) or minutes < 1:
        nearest = [_shown(m * 60) for m in _nearest_cron(seconds / 60)]
        raise UsageError(
            f"cron cannot run every {_shown(seconds)} exactly; the nearest it can keep: "
            f"{' and '.join(nearest)} (or --backend systemd, which keeps any whole number of "
            "seconds)"
        )
    if minutes == DAY_MINUTES:
        return ["0 3 * * *"]
    if minutes < 60 and 60 % minutes == 0:
        return ["* * * * *" if minutes == 1 else f"*/{minutes} * * * *"]
    step = math.lcm(minutes, 60) // 60  # hours between two runs at the same minute of the hour
    first: dict[int, int] = {}
    for start in range(0, DAY_MINUTES, minutes):
        first.setdefault(start % 60, start // 60)
    hours = "*" if step == 1 else "{hour}-23/" + str(step)
    return [f"{minute} {hours.format(hour=hour)} * * *" for minute, hour in sorted(first.items())]


def _nearest_cron(minutes: float) -> list[int]:
    """The intervals cron keeps (minutes dividing a day) just below and just above *minutes*."""
    kept = [m for m in range(1, DAY_MINUTES + 1) if DAY_MINUTES % m == 0]
    below = [m for m in kept if m < minutes]
    above = [m for m in kept if m > minutes]
    return ([below[-1]] if below else []) + ([above[0]] if above else [])


def _shown(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def systemd_quoted(word: str) -> str:
    """*word* as one argument of a systemd command line: in double quotes with \\ and \"
    escaped, a specifier's % as %%, a variable's $ as $$ (systemd.service, "Command lines")."""
    escaped = word.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("%", "%%").replace("$", "$$") + '"'


def cron_escaped(command: str) -> str:
    """*command* (sh text) as the command field of a crontab line: cron turns an unescaped %
    into a newline, so each % becomes \\% (crontab(5))."""
    return command.replace("%", "\\%")


def cron_lines(every: float, harvest: str) -> list[str]:
    uid = os.getuid()
    log = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local/state") / "harvester"
    # cron has no session bus: point the job at the user's (where a keyring daemon runs). Every
    # path is quoted for sh (a venv under ~/My Tools/, a ; or a % in a name run nothing else).
    job = (
        f"mkdir -p {shlex.quote(str(log))} && "
        f"DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/{uid}/bus "
        f"{shlex.quote(harvest)} refresh --all >> {shlex.quote(str(log / 'refresh.log'))} 2>&1"
    )
    return [f"{when} {cron_escaped(job)} {CRON_MARK}" for when in cron_schedules(every)]


def systemd_available() -> bool:
    if shutil.which("systemctl") is None:
        return False
    try:
        probe = subprocess.run(
            ["systemctl", "--user", "show-environment"], capture_output=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def plan(every: float, backend: str | None = None) -> Plan:
    if every < MINIMUM_SCHEDULE_EVERY:
        raise UsageError(
            f"a schedule runs at most every {MINIMUM_SCHEDULE_EVERY:g}s, not every {every:g}s: "
            "a site is not to be hammered"
        )
    harvest = harvest_executable()
    chosen = backend or ("systemd" if systemd_available() else "cron")
    if chosen == "systemd":
        files = {unit_dir() / name: text for name, text in systemd_units(every, harvest).items()}
        commands = [
            ["systemctl", "--user", "daemon-reload"],
            ["systemctl", "--user", "enable", "--now", f"{UNIT}.timer"],
        ]
        return Plan("systemd", files, [], commands)
    if chosen == "cron":
        return Plan("cron", {}, cron_lines(every, harvest), [])
    raise UsageError(f"unknown schedule backend {chosen!r}: systemd or cron")


def describe(p: Plan) -> str:
    if p.backend == "systemd":
        parts = [f"# {path}\n{text}" for path, text in p.files.items()]
        parts.append("# then: " + " && ".join(" ".join(c) for c in p.commands))
        return "\n".join(parts)
    return "# crontab entries (crontab -e)\n" + "\n".join(p.cron_lines)


def install(p: Plan) -> str:
    if p.backend == "systemd":
        for path, text in p.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        for command in p.commands:
            _run(command)
        return f"Installed {UNIT}.timer (systemd user timer)"
    lines = [line for line in _crontab_lines() if CRON_MARK not in line]
    lines.extend(p.cron_lines)
    _write_crontab(lines)
    return "Installed a crontab entry (crontab -l shows it)"


def remove() -> str:
    removed = []
    files = [unit_dir() / name for name in (f"{UNIT}.service", f"{UNIT}.timer")]
    if any(f.exists() for f in files):
        if systemd_available():
            subprocess.run(
                ["systemctl", "--user", "disable", "--now", f"{UNIT}.timer"],
                capture_output=True,
                timeout=30,
            )
        for path in files:
            path.unlink(missing_ok=True)
        if systemd_available():
            subprocess.run(
                ["systemctl", "--user", "daemon-reload"], capture_output=True, timeout=30
            )
        removed.append("the systemd user timer")
    if shutil.which("crontab"):
        lines = _crontab_lines()
        kept = [line for line in lines if CRON_MARK not in line]
        if kept != lines:
            _write_crontab(kept)
            removed.append("the crontab entry")
    return "Removed " + " and ".join(removed) if removed else "Nothing was installed"


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise HarvestError(
            f"{' '.join(command)} failed: {detail[0] if detail else done.returncode}"
        )


def _crontab_lines() -> list[str]:
    if shutil.which("crontab") is None:
        raise HarvestError("neither a systemd user manager nor crontab is available here")
    done = subprocess.run(["crontab", "-l"], capture_output=True, text=True, timeout=30)
    return done.stdout.splitlines() if done.returncode == 0 else []


def _write_crontab(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n" if lines else ""
    done = subprocess.run(["crontab", "-"], input=text, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise HarvestError(f"crontab - failed: {done.stderr.strip()}")


ACTIONS = ("install", "show", "remove")


def schedule(action: str, every: str = "15m", backend: str = "") -> str:
    """`harvest schedule ACTION`: install, show or remove the periodic `harvest refresh --all`;
    returns what to tell the user."""
    from .durations import parse_duration

    if action not in ACTIONS:
        raise UsageError(f"unknown action {action!r}: install, show or remove")
    if action == "remove":
        return remove()
    chosen = plan(parse_duration(every, minimum=MINIMUM_SCHEDULE_EVERY), backend or None)
    return describe(chosen) if action == "show" else install(chosen)
