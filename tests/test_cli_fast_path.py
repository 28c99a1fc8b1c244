"""`harvest env`'s fast path (harvester/cli/fast.py) is the same command as the Typer one:
the same options, the same output, the same error lines and exit codes; anything it does not
parse plainly goes to the full command line. In-process, with an in-memory keyring (the real
keyring is used by every `harvest env` of the slow tier)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
import typer.main
from keyring.backend import KeyringBackend
from typer.testing import CliRunner

from harvester.cli import run
from harvester.cli.app import app
from harvester.cli.fast import ENV_OPTIONS, LOGIN_OPTIONS, parse_env, parse_login, run_fast
from harvester.store.session import Session
from harvester.store.sessions import SessionStore

SITE = "http://127.0.0.1:9"


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.secrets.pop((service, username), None)


@pytest.fixture
def stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    before = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    monkeypatch.setenv("HARVEST_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "memory")  # "chosen explicitly"
    monkeypatch.delenv("HARVEST_SITE", raising=False)
    monkeypatch.delenv("HARVEST_DEBUG", raising=False)
    SessionStore().save(
        Session(SITE, "alice", "TotaraSessionabc", "cookie0123456789", "Sess1234Ab")
    )
    yield tmp_path
    keyring.set_keyring(before)


def both(args: list[str], **env: str) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    """(fast, full): exit code, stdout and stderr of each path."""
    results = []
    for path in ("fast", "full"):
        runner = CliRunner()
        with runner.isolation(env=env) as (out, err, *_):
            code = run_fast(args) if path == "fast" else run(args, handle_signals=False)
            assert code is not None, f"the fast path did not take {args}"
            sys.stdout.flush()
            sys.stderr.flush()
            results.append((code, out.getvalue().decode(), err.getvalue().decode()))
    return results[0], results[1]


def test_the_fast_path_knows_exactly_the_options_of_the_command() -> None:
    command = typer.main.get_command(app).commands["env"]  # type: ignore[attr-defined]
    typer_options = {
        opt for param in command.params for opt in (*param.opts, *param.secondary_opts)
    } - {"--help"}
    assert set(ENV_OPTIONS) == typer_options
    assert {param.name for param in command.params} == {p for p, _ in ENV_OPTIONS.values()}


def test_the_login_fast_path_knows_only_options_of_the_command_as_it_reads_them() -> None:
    """`harvest login`'s fast path (an agent doing the whole login) takes a subset of the
    command's options: each the same parameter, flag or value, and --timeout's range."""
    command = typer.main.get_command(app).commands["login"]  # type: ignore[attr-defined]
    params = {opt: param for param in command.params for opt in param.opts}
    for option, (name, takes_value) in LOGIN_OPTIONS.items():
        assert params[option].name == name
        assert params[option].is_flag is not takes_value  # type: ignore[attr-defined]
    timeout = params["--timeout"].type
    assert (timeout.min, timeout.max) == (0.1, 86400)  # type: ignore[attr-defined]
    assert parse_login(["--timeout", "0.1"]) is not None
    for bad in ("0.09", "86401", "nan", "inf", "soon"):
        assert parse_login(["--timeout", bad]) is None  # the full command line says why
    for other in (["--headed"], ["--no-agent"], ["--browser-path", "x"], ["-ualice"]):
        assert parse_login(other) is None


def test_login_takes_the_full_command_line_when_no_agent_listens(tmp_path: Path) -> None:
    plain = ["login", "-u", "alice", "--site", SITE, "--password-stdin"]
    assert parse_login(plain[1:]) is not None
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARVEST_AGENT_DIR", str(tmp_path))
        assert run_fast(plain) is None  # no socket there
        (tmp_path / "agent.sock").touch()
        patch.setenv("HARVEST_AGENT", "0")
        assert run_fast(plain) is None
        patch.delenv("HARVEST_AGENT")
        patch.setenv("HARVEST_BROWSER_ENDPOINT", "ws://127.0.0.1:9/")
        assert run_fast(plain) is None


@pytest.mark.parametrize(
    "args",
    [
        ["env", "-u", "alice", "--site", SITE],
        ["env", "--user=alice", f"--site={SITE}", "-f", "json"],
        ["env", "--user", "alice", "--site", SITE, "--format", "fish"],
        ["env", "-u", "alice", "--site", SITE, "-f", "netscape"],
        ["env", "-u", "bob", "--site", SITE],  # no stored session: exit 4
        ["env", "-u", "alice", "--site", SITE, "-f", "yaml"],  # an unknown format: exit 2
        ["env", "-u", "alice", "--site", "ftp://x"],  # not a site URL: exit 2
        ["env", "-u", "alice"],  # the one site alice has
    ],
)
@pytest.mark.usefixtures("stored")
def test_the_fast_path_answers_as_the_full_command_line_does(args: list[str]) -> None:
    fast, full = both(args)
    assert fast == full


def test_the_fast_path_writes_an_output_file_as_the_full_one_does(stored: Path) -> None:
    for name in ("fast", "full"):
        target = stored / f"{name}.env"
        args = ["env", "-u", "alice", "--site", SITE, "-o", str(target), "-f", "dotenv"]
        code = run_fast(args) if name == "fast" else run(args, handle_signals=False)
        assert code == 0
        assert target.stat().st_mode & 0o777 == 0o600
    assert (stored / "fast.env").read_text() == (stored / "full.env").read_text()


@pytest.mark.parametrize(
    "args",
    [
        ["env", "--help"],
        ["env", "-ualice"],  # Click's joined short option: the full parser reads it
        ["env", "--site"],  # a missing value: the full parser says so
        ["env", "--force=yes"],
        ["env", "--user", "alice", "extra"],
        ["env", "--", "x"],
        ["status"],
        [],
    ],
)
def test_anything_else_goes_to_the_full_command_line(args: list[str]) -> None:
    assert parse_env(args[1:]) is None if args[:1] == ["env"] else True
    assert run_fast(args) is None
