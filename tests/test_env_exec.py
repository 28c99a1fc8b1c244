"""`harvest env` and `harvest exec`: the session handed to shells and programs, exactly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import keyring
import pytest
from dotenv import dotenv_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harvester.handoff.export import VARIABLES, dotenv_value, format_variables
from harvester.store.session import Session
from harvester.store.sessions import SessionStore

from .conftest import HARVEST, HarvestRunner, LoggedIn

SEED_CURL = (
    'curl -s "$TOTARA_WWWROOT/totara/webapi/ajax.php" -X POST -H "Cookie: $TOTARA_COOKIE" '
    "-H \"X-Totara-Sesskey: $TOTARA_SESSKEY\" -H 'Content-Type: application/json' "
    '--data-raw \'{"operationName":"totara_webapi_status","variables":{}}\''
)
DUMP = (
    f"{sys.executable} -c 'import json, os; "
    f'print(json.dumps({{k: v for k, v in os.environ.items() if k.startswith("TOTARA_")}}))\''
)
# How each real shell loads `harvest env` output from a file, then hands its environment to DUMP.
SHELLS = {
    "bash": ["bash", "-c", 'eval "$(cat "$1")" && exec ' + DUMP, "bash"],
    "dash": ["dash", "-c", 'eval "$(cat "$1")" && exec ' + DUMP, "dash"],
    "zsh": ["zsh", "-c", 'eval "$(cat "$1")" && exec ' + DUMP, "zsh"],
    "fish": ["fish", "-c", f"source $argv[1]; and exec {DUMP}"],
}
SHELL_FORMAT = {"bash": "sh", "dash": "sh", "zsh": "sh", "fish": "fish"}


def through_shell(shell: str, text: str, tmp: Path) -> dict[str, str]:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed (scripts/test installs it)")
    script = tmp / f"env.{shell}"
    script.write_text(text, encoding="utf-8")
    argv = [*SHELLS[shell], str(script)]
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("TOTARA_")},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# -- the acceptance path -----------------------------------------------------------------------
def test_eval_env_then_the_seed_curl_answers_status_ok(logged_in: LoggedIn) -> None:
    script = f'eval "$({HARVEST} env --user alice --site {logged_in.url})" && {SEED_CURL}'
    proc = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        env=logged_in.harvest.env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"status":"ok"' in proc.stdout


def test_env_without_site_uses_the_users_only_site(logged_in: LoggedIn) -> None:
    result = logged_in.harvest("env", "--user", "alice")
    assert result.code == 0, result.err
    assert f"export TOTARA_WWWROOT='{logged_in.url}'\n" in result.out


@pytest.mark.parametrize("fmt", ["sh", "fish", "powershell", "dotenv", "json"])
def test_every_format_carries_the_five_variables(logged_in: LoggedIn, fmt: str) -> None:
    result = logged_in.harvest("env", "--user", "alice", "--site", logged_in.url, "--format", fmt)
    assert result.code == 0, result.err
    state = Path(logged_in.harvest.env["XDG_STATE_HOME"]) / "harvester"
    session = SessionStore(state).load(logged_in.url, "alice")
    assert session is not None
    expected = {  # each name with the stored session's own value, spelled out here
        "TOTARA_WWWROOT": session.wwwroot,
        "TOTARA_COOKIE": f"{session.cookie_name}={session.cookie_value}",
        "TOTARA_COOKIE_NAME": session.cookie_name,
        "TOTARA_SESSION": session.cookie_value,
        "TOTARA_SESSKEY": session.sesskey,
    }
    assert set(expected) == set(VARIABLES) and "TotaraSessionabc=" in result.out
    if fmt == "json":
        assert json.loads(result.out) == expected
        return
    for name, value in expected.items():
        lines = [line for line in result.out.splitlines() if name in line]
        assert any(value in line for line in lines), (name, lines)


def test_json_format_is_an_object_of_the_variables(logged_in: LoggedIn) -> None:
    result = logged_in.harvest("env", "--user", "alice", "--format", "json")
    values = json.loads(result.out)
    assert list(values) == list(VARIABLES)
    assert values["TOTARA_COOKIE"] == f"{values['TOTARA_COOKIE_NAME']}={values['TOTARA_SESSION']}"


def test_env_without_a_stored_session_exits_4_naming_the_login(
    logged_in: LoggedIn,
) -> None:
    result = logged_in.harvest("env", "--user", "bob", "--site", logged_in.url)
    assert result.code == 4
    assert f"harvest login --user bob --site {logged_in.url}" in result.err
    assert result.err.count("\n") == 1


def test_unknown_format_exits_2(logged_in: LoggedIn) -> None:
    assert logged_in.harvest("env", "--user", "alice", "--format", "csh").code == 2


# -- exact quoting, proven with real shells ------------------------------------------------------
NASTY = [
    "it's",
    '"double"',
    "$(touch {marker})",
    "`touch {marker}`",
    "${HOME}",
    "$HOME",
    "a\nb",
    "semi;colon",
    "back\\slash",
    "tab\tchar",
    "ünïcødé ✓ 日本",
    "\u2019smart\u2018",
    "#hash",
    " lead and trail ",
    "a=b",
    "\r\n",
    "'\\''",
    "!bang",
    "*glob?",
    "%PATH%",
    "--",
    "-n",
    "",
]


def value_strategy(marker: Path) -> st.SearchStrategy[str]:
    fragments = st.sampled_from([f.replace("{marker}", str(marker)) for f in NASTY])
    chars = st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=20
    )
    return st.lists(st.one_of(fragments, chars), max_size=6).map("".join)


def session_with(value: str, wwwroot: str) -> Session:
    return Session(
        wwwroot=wwwroot,
        user="alice",
        cookie_name="TotaraSession" + "x",
        cookie_value=value,
        sesskey=value[::-1] or "k",
        obtained_at=1.0,
    )


@pytest.mark.parametrize("shell", ["bash", "dash", "zsh", "fish"])
def test_any_keyring_value_round_trips_through_real_shells_and_runs_nothing(
    shell: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp(shell)
    marker = tmp / "ran"
    store = SessionStore(tmp / "state")
    wwwroot = f"http://roundtrip-{shell}.invalid"

    values = value_strategy(marker)

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(name=values, cookie=values, sesskey=values, root=values)
    def check(name: str, cookie: str, sesskey: str, root: str) -> None:
        # junk in every field of the keyring entry, read back the way harvest env reads it
        entry = {
            "v": 1,
            "cookie_name": name,
            "cookie_value": cookie,
            "sesskey": sesskey,
            "wwwroot": root,
            "obtained_at": 1.0,
            "verified_at": None,
        }
        keyring.set_password(f"harvester:session:{wwwroot}", "alice", json.dumps(entry))
        loaded = store.load(wwwroot, "alice")
        assert loaded is not None
        seen = through_shell(shell, format_variables(loaded, SHELL_FORMAT[shell]), tmp)
        assert seen == {
            "TOTARA_WWWROOT": root,
            "TOTARA_COOKIE": f"{name}={cookie}",
            "TOTARA_COOKIE_NAME": name,
            "TOTARA_SESSION": cookie,
            "TOTARA_SESSKEY": sesskey,
        }
        assert not marker.exists()

    check()
    keyring.delete_password(f"harvester:session:{wwwroot}", "alice")


# Variables that are set while the file is loaded: a value naming them must not pick them up
# (a site serving the sesskey ${AWS_SECRET_ACCESS_KEY} must not get that secret back).
SET_VARIABLES = {"HARVEST_T_SECRET": "leaked!", "AWS_SECRET_ACCESS_KEY": "aws-leaked"}
EXPANSIONS = st.sampled_from(
    [
        f"{prefix}{name}{suffix}"
        for name in (*SET_VARIABLES, "TOTARA_SESSKEY", "")
        for prefix, suffix in (("$", ""), ("${", "}"), ("${", ":-x}"), ("${", "-y}"), ("${", ""))
    ]
    + ["${:-${}", "$${", "\\${", "'${", '"${']
)
DOTENV_VALUES = st.lists(
    st.one_of(
        EXPANSIONS,
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")),
    ),
    max_size=6,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(value=DOTENV_VALUES)
def test_dotenv_round_trips_through_python_dotenv_and_plain_values_through_docker(
    value: str,
) -> None:
    import io

    text = format_variables(session_with(value, "http://dotenv.invalid"), "dotenv")
    saved = {name: os.environ.get(name) for name in SET_VARIABLES}
    os.environ.update(SET_VARIABLES)
    try:
        loaded = dotenv_values(stream=io.StringIO(text))
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
    assert loaded["TOTARA_SESSION"] == value
    assert loaded["TOTARA_SESSKEY"] == (value[::-1] or "k")
    text, plain = dotenv_value(value)
    if plain:  # both readers, each by its own rule, on the very line harvest writes
        line = f"TOTARA_SESSION={text}"
        assert "\n" not in line
        docker = line.split("=", 1)[1]  # docker --env-file: the rest of the line, verbatim
        assert docker == value
        assert dotenv_values(stream=io.StringIO(line + "\n"))["TOTARA_SESSION"] == value


def test_powershell_doubles_every_kind_of_single_quote() -> None:
    text = format_variables(session_with("a'b\u2019c", "http://ps.invalid"), "powershell")
    assert "$env:TOTARA_SESSION = 'a''b\u2019\u2019c'" in text


def test_nasty_value_through_the_real_harvest_env(harvest: HarvestRunner, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    value = f"it's $(touch {marker}) `touch {marker}`\nline2 ✓"
    wwwroot = "http://nasty.invalid"
    SessionStore(tmp_path / "state").save(session_with(value, wwwroot))
    result = harvest("env", "--user", "alice", "--site", wwwroot)
    assert result.code == 0, result.err
    assert through_shell("bash", result.out, tmp_path)["TOTARA_SESSION"] == value
    assert not marker.exists()
    keyring.delete_password(f"harvester:session:{wwwroot}", "alice")


# -- exec ----------------------------------------------------------------------------------------
def test_exec_returns_the_commands_exit_code(logged_in: LoggedIn) -> None:
    result = logged_in.harvest("exec", "--user", "alice", "--", "sh", "-c", "exit 7")
    assert result.code == 7


def test_exec_sets_the_variables_and_drops_inherited_ones(logged_in: LoggedIn) -> None:
    result = logged_in.harvest(
        "exec",
        "--user",
        "alice",
        "--",
        sys.executable,
        "-c",
        "import json, os; print(json.dumps({k: v for k, v in os.environ.items() "
        "if k.startswith('TOTARA_')}))",
        TOTARA_SESSKEY="stale",
        TOTARA_LEFTOVER="x",
    )
    assert result.code == 0, result.err
    seen = json.loads(result.out)
    assert sorted(seen) == sorted(VARIABLES)
    assert seen["TOTARA_SESSKEY"] != "stale"
    assert seen["TOTARA_WWWROOT"] == logged_in.url


def test_exec_runs_no_shell_in_between(logged_in: LoggedIn) -> None:
    result = logged_in.harvest("exec", "--user", "alice", "--", "printf", "%s", "$(echo hi);x")
    assert result.out == "$(echo hi);x"


def test_nested_exec_is_refused(logged_in: LoggedIn) -> None:
    result = logged_in.harvest(
        "exec", "--user", "alice", "--", HARVEST, "exec", "--user", "alice", "--", "true"
    )
    assert result.code == 2
    assert "already inside harvest exec" in result.err


def test_exec_missing_command_exits_127(logged_in: LoggedIn) -> None:
    result = logged_in.harvest("exec", "--user", "alice", "--", "no-such-command-xyz")
    assert result.code == 127
    assert "command not found" in result.err


def test_exec_signals_reach_the_command(logged_in: LoggedIn) -> None:
    proc = subprocess.Popen(
        [
            HARVEST,
            "exec",
            "--user",
            "alice",
            "--",
            sys.executable,
            "-c",
            "import signal, sys, time\n"
            "signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\n"
            "print('ready', flush=True)\ntime.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=logged_in.harvest.env,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 42
