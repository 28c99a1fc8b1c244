"""keyring's automatic choice, remembered between processes (harvester/store/keyring_choice.py):
each process here is a real one, against the suite's real Secret Service. None runs in the
pytest process: its keyring is the suite's (and other tests define backends in it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SECRET_SERVICE = "keyring.backends.SecretService.Keyring"

# A process that reads a secret through harvester, then says which backend it used, whether
# keyring looked at all its backends (its macOS one is imported only then), and what it fetched.
READ = """
import sys, json
from harvester.store import keyring_access
value = keyring_access.get_secret("harvester:test:choice", "alice")
import keyring
print(json.dumps({
    "backend": f"{type(keyring.get_keyring()).__module__}.{type(keyring.get_keyring()).__name__}",
    "discovered": "keyring.backends.macOS" in sys.modules,
    "imported": sorted(m for m in sys.modules if m.startswith("keyring_choice_bait")),
    "value": value,
}))
"""


@pytest.fixture
def cache_home(tmp_path: Path) -> Path:
    """A user cache folder of the test's own (where the choice is remembered)."""
    return tmp_path / "cache"


def read_in_a_process(cache_home: Path, **env: str) -> dict[str, object]:
    environment = {**os.environ, "XDG_CACHE_HOME": str(cache_home), **env}
    environment.pop("PYTHON_KEYRING_BACKEND", None)
    done = subprocess.run(
        [sys.executable, "-c", READ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = json.loads(done.stdout)
    assert isinstance(found, dict)
    return found


def memory(cache_home: Path) -> dict[str, str]:
    found = json.loads((cache_home / "harvester" / "keyring-backend.json").read_text())
    assert isinstance(found, dict)
    return found


@pytest.fixture
def stored_secret() -> object:
    import keyring

    keyring.set_password("harvester:test:choice", "alice", "remembered-or-not")
    yield "remembered-or-not"
    keyring.delete_password("harvester:test:choice", "alice")


def test_the_second_process_loads_keyrings_choice_by_name_and_reads_the_same_secret(
    cache_home: Path, stored_secret: str
) -> None:
    first = read_in_a_process(cache_home)
    assert first == {
        "backend": SECRET_SERVICE,
        "discovered": True,
        "imported": [],
        "value": stored_secret,
    }
    assert list(memory(cache_home).values()) == [SECRET_SERVICE]
    path = cache_home / "harvester" / "keyring-backend.json"
    assert path.stat().st_mode & 0o777 == 0o600

    second = read_in_a_process(cache_home)
    assert second == {**first, "discovered": False}


def test_another_desktop_is_another_situation(cache_home: Path, stored_secret: str) -> None:
    read_in_a_process(cache_home)
    # KWallet's priority depends on the desktop: keyring must choose again (the same, here)
    again = read_in_a_process(cache_home, XDG_CURRENT_DESKTOP="KDE")
    assert again["discovered"] is True and again["value"] == stored_secret
    assert list(memory(cache_home).values()) == [SECRET_SERVICE, SECRET_SERVICE]


def test_a_remembered_backend_that_cannot_run_here_is_forgotten(
    cache_home: Path, stored_secret: str
) -> None:
    read_in_a_process(cache_home)
    (where,) = memory(cache_home)
    # KWallet's backend cannot run here (no dbus-python, not KDE): keyring would never choose it
    path = cache_home / "harvester" / "keyring-backend.json"
    path.write_text(json.dumps({where: "keyring.backends.kwallet.DBusKeyring"}))
    found = read_in_a_process(cache_home)
    assert found["backend"] == SECRET_SERVICE and found["discovered"] is True
    assert found["value"] == stored_secret
    assert memory(cache_home) == {where: SECRET_SERVICE}


def test_a_name_outside_keyrings_own_backends_is_never_imported(
    cache_home: Path, stored_secret: str, tmp_path: Path
) -> None:
    bait = tmp_path / "bait"
    bait.mkdir()
    (bait / "keyring_choice_bait.py").write_text("class Keyring:\n    priority = 100\n")
    read_in_a_process(cache_home, PYTHONPATH=str(bait))  # the situation with the bait's folder
    (where,) = memory(cache_home)
    path = cache_home / "harvester" / "keyring-backend.json"
    path.write_text(json.dumps({where: "keyring_choice_bait.Keyring"}))
    found = read_in_a_process(cache_home, PYTHONPATH=str(bait))
    assert found["imported"] == [] and found["backend"] == SECRET_SERVICE
    assert found["value"] == stored_secret


def test_a_damaged_memory_is_no_error(cache_home: Path, stored_secret: str) -> None:
    path = cache_home / "harvester" / "keyring-backend.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    found = read_in_a_process(cache_home)
    assert found["value"] == stored_secret and found["discovered"] is True
    assert list(memory(cache_home).values()) == [SECRET_SERVICE]


def test_python_keyring_backend_is_keyrings_own_and_nothing_is_remembered(
    cache_home: Path, stored_secret: str
) -> None:
    environment = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    environment["PYTHON_KEYRING_BACKEND"] = SECRET_SERVICE
    done = subprocess.run(
        [sys.executable, "-c", READ], env=environment, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout)["value"] == stored_secret
    assert not (cache_home / "harvester" / "keyring-backend.json").exists()


# The same process, told that a remembered backend is in use which then fails at its first call.
FAILING = """
import json
from harvester.store import keyring_access, keyring_choice

class Gone:
    def get_password(self, _service, _user):
        raise RuntimeError("the remembered backend's service went away")

import keyring
gone = Gone()
keyring.core._keyring_backend = gone  # as if recalled from memory
chosen = keyring_access._chosen
chosen.recalled, chosen.where = gone, keyring_choice.situation()
value = keyring_access.get_secret("harvester:test:choice", "alice")
print(json.dumps({"value": value, "remembered": chosen.remembered, "where": chosen.where}))
"""


def test_a_remembered_backend_that_fails_is_forgotten_and_keyrings_choice_answers(
    cache_home: Path, stored_secret: str
) -> None:
    environment = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    environment.pop("PYTHON_KEYRING_BACKEND", None)
    done = subprocess.run(
        [sys.executable, "-c", FAILING], env=environment, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    found = json.loads(done.stdout)
    assert found["value"] == stored_secret and found["remembered"] is False
    assert memory(cache_home) == {found["where"]: SECRET_SERVICE}
