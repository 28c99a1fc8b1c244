"""The fast tier: parsing and printing, in-process (Typer's CliRunner), with no browser, no
site and no keyring involved (touching the keyring fails the test). Every command's --help, and
every usage error of the bad-input matrix (tests/test_bad_input.py), each in milliseconds."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Protocol

import pytest
import typer.main
from typer.core import TyperGroup
from typer.testing import CliRunner

from harvester.cli import run
from harvester.cli.app import app
from harvester.store import keyring_access

NOWHERE = "http://127.0.0.1:9"  # never contacted: each case fails before it would be


@dataclass
class Outcome:
    code: int
    out: str
    err: str


class Harvest(Protocol):
    def __call__(self, *args: str, input: str | None = None, **env: str) -> Outcome: ...


@pytest.fixture
def harvest_inprocess(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harvest]:
    """Runs `harvest ARGS` in this process with its own config and state folders."""

    def no_keyring(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the fast tier must not reach the keyring")

    for name in ("check_available", "get_secret", "set_secret", "delete_secret"):
        monkeypatch.setattr(keyring_access, name, no_keyring)
    env: dict[str, str | None] = {
        "HARVEST_CONFIG": str(tmp_path / "config.toml"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "HARVEST_SITE": None,
        "HARVEST_EXEC": None,
        "HARVEST_DEBUG": None,
    }

    def invoke(*args: str, input: str | None = None, **extra: str) -> Outcome:
        runner = CliRunner()
        with runner.isolation(input=input, env={**env, **extra}) as (out, err, *_):
            code = run(list(args), handle_signals=False)
            sys.stdout.flush()
            sys.stderr.flush()
            return Outcome(code, out.getvalue().decode(), err.getvalue().decode())

    yield invoke


def all_command_paths() -> list[list[str]]:
    """Every command and sub-command of `harvest`, as argument lists."""
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    paths: list[list[str]] = []
    for name, command in sorted(root.commands.items()):
        paths.append([name])
        if isinstance(command, TyperGroup):
            paths += [[name, sub] for sub in sorted(command.commands)]
    return paths


COMMANDS = all_command_paths()


def test_every_command_is_listed() -> None:
    names = {" ".join(path) for path in COMMANDS}
    assert {"login", "env", "exec", "request", "status", "refresh", "schedule", "logout"} <= names
    assert {"site add", "site list", "site remove", "doctor", "demo", "open"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_every_command_has_help(path: list[str], harvest_inprocess: Harvest) -> None:
    result = harvest_inprocess(*path, "--help")
    assert result.code == 0, result.err
    assert result.out.startswith("Usage: ") or "Usage: " in result.out
    assert result.err == ""


def whole_app_says(args: list[str]) -> Outcome:
    """What the whole Typer app (every command built) prints for *args*, in this process."""
    from harvester.cli import main as cli_main
    from harvester.cli.lines import print_failure

    runner = CliRunner()
    with runner.isolation(env={"HARVEST_SITE": None}) as (out, err, *_):
        try:
            code = app(args=args, standalone_mode=False)
        except SystemExit as exc:
            code = exc.code
        except Exception as exc:
            code = print_failure(cli_main._report(exc))
        sys.stdout.flush()
        sys.stderr.flush()
        return Outcome(code or 0, out.getvalue().decode(), err.getvalue().decode())


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_the_app_of_one_command_says_what_the_whole_app_says(
    path: list[str], harvest_inprocess: Harvest
) -> None:
    """run() builds only the command named (cli/app.py app_for): its help and its usage
    errors must be the whole app's, word for word."""
    for args in ([*path, "--help"], [*path, "--no-such-option"]):
        ours = harvest_inprocess(*args, HARVEST_SITE="")
        assert (ours.code, ours.out, ours.err) == astuple(whole_app_says(args))


def test_top_level_help_and_version(harvest_inprocess: Harvest) -> None:
    assert "login" in harvest_inprocess("--help").out
    version = harvest_inprocess("--version")
    assert version.code == 0 and version.out.startswith("harvest ")


# (the bad-input matrix's name for the case, the words of its one line, the command)
USAGE_ERRORS = [
    (
        "empty password",
        "no password on standard input",
        ("login", "--user", "alice", "--site", NOWHERE, "--password-stdin"),
        "\n",
    ),
    (
        "malformed --variables",
        "--variables is not valid JSON",
        ("request", "totara_webapi_status", "-u", "alice", "--site", NOWHERE, "--variables", "{"),
        None,
    ),
    (
        "--variables that is not an object",
        "must be a JSON object",
        ("request", "totara_webapi_status", "-u", "alice", "--site", NOWHERE, "--variables", "[1]"),
        None,
    ),
    (
        "--variables @file that does not exist",
        "cannot read --variables file",
        ("request", "x", "-u", "alice", "--site", NOWHERE, "--variables", "@/nonexistent/v.json"),
        None,
    ),
    (
        "an unknown site alias",
        "unknown site alias 'intranet'",
        ("env", "-u", "alice", "--site", "intranet"),
        None,
    ),
    (
        "a site URL that is not http(s)",
        "not a site URL",
        ("login", "--user", "alice", "--site", "ftp://example.com", "--password-stdin"),
        "pw\n",
    ),
    (
        "an unknown --format",
        "unknown format 'csh'",
        ("env", "-u", "alice", "--site", NOWHERE, "--format", "csh"),
        None,
    ),
    (
        "a bad --every duration",
        "duration",
        ("refresh", "--all", "--every", "soon"),
        None,
    ),
    ("an unknown option", "No such option", ("status", "--colour"), None),
    ("missing --user", "--user NAME", ("env",), None),
    ("no refresh target", "--user NAME (repeatable) or --all", ("refresh",), None),
    ("an unknown schedule action", "unknown action", ("schedule", "sometimes"), None),
    (
        "an unknown schedule backend",
        "unknown schedule backend",
        ("schedule", "show", "--backend", "at"),
        None,
    ),
    ("a bad --step", "bad --step", ("site", "add", "x", "--url", NOWHERE, "--step", "dance"), None),
    ("a bad alias", "bad alias", ("site", "add", "a b", "--url", NOWHERE), None),
    ("removing an unknown alias", "no site alias 'lms'", ("site", "remove", "lms"), None),
    (
        "cookie name and prefix",
        "not both",
        ("site", "add", "x", "--url", NOWHERE, "--cookie-name", "A", "--cookie-prefix", "B"),
        None,
    ),
    ("a --timeout below its minimum", "--timeout", ("status", "--check", "--timeout", "0"), None),
]


@pytest.mark.parametrize(
    ("words", "args", "stdin"),
    [case[1:] for case in USAGE_ERRORS],
    ids=[case[0] for case in USAGE_ERRORS],
)
def test_usage_errors_are_one_line_and_exit_2(
    words: str, args: tuple[str, ...], stdin: str | None, harvest_inprocess: Harvest
) -> None:
    result = harvest_inprocess(*args, input=stdin)
    assert result.code == 2, result.err
    assert result.err.count("\n") == 1 and result.err.startswith("harvest: error: "), result.err
    assert words in result.err


def test_a_config_syntax_error_names_file_and_line(
    tmp_path: Path, harvest_inprocess: Harvest
) -> None:
    (tmp_path / "config.toml").write_text('[sites.lms]\nurl = "http://x\n', encoding="utf-8")
    result = harvest_inprocess("env", "-u", "alice", "--site", "lms")
    assert result.code == 2 and "line 2, column" in result.err and "config.toml" in result.err


def test_a_nested_exec_is_refused(harvest_inprocess: Harvest) -> None:
    args = ("exec", "-u", "alice", "--site", NOWHERE, "--", "true")
    result = harvest_inprocess(*args, HARVEST_EXEC="1")
    assert result.code == 2 and "already inside harvest exec" in result.err


def test_site_add_list_remove_print_what_they_did(harvest_inprocess: Harvest) -> None:
    added = harvest_inprocess("site", "add", "lms", "--url", "HTTP://LMS.Example.com/", "--default")
    assert added.code == 0 and "Site lms is http://lms.example.com" in added.out
    listed = harvest_inprocess("site", "list")
    assert listed.out.startswith("* lms: http://lms.example.com (cookie TotaraSession*")
    assert harvest_inprocess("site", "remove", "lms").code == 0
    assert "No sites in" in harvest_inprocess("site", "list").out


def test_status_with_nothing_stored(harvest_inprocess: Harvest) -> None:
    assert "No stored sessions" in harvest_inprocess("status").out
    assert harvest_inprocess("status", "--json").out.strip() == "[]"


def test_schedule_show_prints_the_units(harvest_inprocess: Harvest) -> None:
    shown = harvest_inprocess("schedule", "show", "--every", "30m", "--backend", "cron")
    assert shown.code == 0 and shown.out.strip().endswith("# harvester-refresh")
