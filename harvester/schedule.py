"""`harvest schedule`: run `harvest refresh --all` periodically, the platform's way.

A systemd user timer where a user manager runs, else a crontab entry. `show` prints exactly
what `install` would write; `remove` undoes it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import HarvestError, UsageError

UNIT = "harvester-refresh"
CRON_MARK = "# harvester-refresh"


@dataclass(frozen=True)
class Plan:
    backend: str  # "systemd" or "cron"
    files: dict[Path, str]  # systemd unit files to write
    cron_line: str | None
    commands: list[list[str]]  # what install runs after writing


def harvest_executable() -> str:
    found = shutil.which("harvest")
    if found:
        return os.path.abspath(found)
    return os.path.abspath(sys.argv[0])


def unit_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def systemd_units(every: float, harvest: str) -> dict[str, str]:
    seconds = max(1, round(every))
    service = f"""[Unit]
Description=Refresh harvester's Totara sessions (harvest refresh --all)

[Service]
Type=oneshot
# Runs in your user manager, so it reaches your session's Secret Service (keyring). On a
# headless server: loginctl enable-linger $USER, and keep an unlocked keyring running.
ExecStart={harvest} refresh --all
"""
    timer = f"""[Unit]
Description=Refresh harvester's Totara sessions every {seconds}s

[Timer]
OnActiveSec=60s
OnUnitActiveSec={seconds}s
RandomizedDelaySec={max(1, seconds // 10)}s
AccuracySec=1s

[Install]
WantedBy=timers.target
"""
    return {f"{UNIT}.service": service, f"{UNIT}.timer": timer}


def cron_schedule(every: float) -> str:
    minutes = max(1, round(every / 60))
    if minutes < 60:
        return f"*/{minutes} * * * *"
    hours = max(1, round(minutes / 60))
    return f"0 */{hours} * * *" if hours < 24 else "0 3 * * *"


def cron_line(every: float, harvest: str) -> str:
    uid = os.getuid()
    log = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local/state") / "harvester"
    # cron has no session bus: point the job at the user's (where a keyring daemon runs).
    return (
        f"{cron_schedule(every)} mkdir -p {log} && "
        f"DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/{uid}/bus "
        f"{harvest} refresh --all >> {log}/refresh.log 2>&1 {CRON_MARK}"
    )


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
    harvest = harvest_executable()
    chosen = backend or ("systemd" if systemd_available() else "cron")
    if chosen == "systemd":
        files = {unit_dir() / name: text for name, text in systemd_units(every, harvest).items()}
        commands = [
            ["systemctl", "--user", "daemon-reload"],
            ["systemctl", "--user", "enable", "--now", f"{UNIT}.timer"],
        ]
        return Plan("systemd", files, None, commands)
    if chosen == "cron":
        return Plan("cron", {}, cron_line(every, harvest), [])
    raise UsageError(f"unknown schedule backend {chosen!r}: systemd or cron")


def describe(p: Plan) -> str:
    if p.backend == "systemd":
        parts = [f"# {path}\n{text}" for path, text in p.files.items()]
        parts.append("# then: " + " && ".join(" ".join(c) for c in p.commands))
        return "\n".join(parts)
    return f"# crontab entry (crontab -e)\n{p.cron_line}"


def install(p: Plan) -> str:
    if p.backend == "systemd":
        for path, text in p.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        for command in p.commands:
            _run(command)
        return f"Installed {UNIT}.timer (systemd user timer)"
    lines = [line for line in _crontab_lines() if CRON_MARK not in line]
    lines.append(p.cron_line or "")
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
    chosen = plan(parse_duration(every), backend or None)
    return describe(chosen) if action == "show" else install(chosen)
