"""Copy as cURL, both ways: pastes in each browser's exact quoting (Chromium's bash and cmd
forms, Firefox's POSIX form) become a stored session that harvest request can use; harvest
curl's command answers through sh; a paste is never echoed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import keyring
import pytest

from harvester.errors import UsageError
from harvester.handoff.curl import parse_copied_curl

from .conftest import HarvestRunner, LoggedIn

OPERATION = '[{"operationName":"totara_job_my_assignments","variables":{"note":"it\'s"}}]'


def chromium_bash(url: str, cookie: str, sesskey: str) -> str:
    """Chromium's "Copy as cURL (bash)": $'…' where the data holds a quote or non-ASCII."""
    data = OPERATION.replace("'", "\\'").replace("é", "\\u00e9")
    return (
        f"curl '{url}/totara/webapi/ajax.php?info=totara_job_my_assignments' \\\n"
        "  -H 'accept: */*' \\\n"
        "  -H 'accept-language: en-GB,en;q=0.9' \\\n"
        "  -H 'content-type: application/json' \\\n"
        f"  -b 'lb=node2; {cookie}' \\\n"
        f"  -H 'origin: {url}' \\\n"
        "  -H 'user-agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0 Safari/537.36' \\\n"
        f"  -H 'x-totara-sesskey: {sesskey}' \\\n"
        f"  --data-raw $'{data}'"
    )


def firefox_posix(url: str, cookie: str, sesskey: str) -> str:
    """Firefox's "Copy as cURL (POSIX)": one line, -H 'Cookie: …', a quote as '\\''."""
    data = OPERATION.replace("'", "'\\''")
    return (
        f"curl '{url}/totara/webapi/ajax.php?info=totara_job_my_assignments' --compressed "
        "-X POST -H 'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 "
        "Firefox/140.0' -H 'Accept: application/json, text/plain, */*' -H 'Content-Type: "
        f"application/json' -H 'X-Totara-Sesskey: {sesskey}' -H 'Origin: {url}' -H "
        f"'Connection: keep-alive' -H 'Cookie: {cookie}; lb=node2' --data-raw '{data}'"
    )


def chromium_cmd(url: str, cookie: str, sesskey: str) -> str:
    """Chromium's "Copy as cURL (cmd)": every word in ^"…^", specials escaped with ^, a quote
    inside as \\^", lines continued with ^."""

    def cmd(text: str) -> str:
        escaped = "".join(
            '\\^"' if c == '"' else f"^{c}" if c in "^&|<>()%!{}[],:;= " else c for c in text
        )
        return f'^"{escaped}^"'

    return (
        f"curl {cmd(url + '/totara/webapi/ajax.php')} ^\n"
        f"  -H {cmd('accept: */*')} ^\n"
        f"  -H {cmd('content-type: application/json')} ^\n"
        f"  -b {cmd(cookie)} ^\n"
        f"  -H {cmd('x-totara-sesskey: ' + sesskey)} ^\n"
        f"  --data-raw {cmd(OPERATION)}"
    )


FORMS = {
    "chromium bash": chromium_bash,
    "firefox posix": firefox_posix,
    "chromium cmd": chromium_cmd,
}


@pytest.mark.parametrize("form", list(FORMS))
def test_each_browsers_quoting_reads_back_exactly(form: str) -> None:
    copied = parse_copied_curl(
        FORMS[form]("https://lms.example.com/t", "TotaraSessionA1=v=1", "Kk0")
    )
    assert copied.url.startswith("https://lms.example.com/t/totara/webapi/ajax.php")
    assert dict(copied.cookies)["TotaraSessionA1"] == "v=1"
    assert copied.sesskey == "Kk0"
    assert copied.body == OPERATION
    assert str(copied.wwwroot()) == "https://lms.example.com/t"
    assert copied.operations() == [("totara_job_my_assignments", {"note": "it's"})]


@pytest.mark.parametrize(
    "paste",
    ["rm -rf /", "curl 'https://h/x.php' -H 'x-totara-sesskey: k'", "curl 'unclosed", "curl"],
)
def test_what_is_not_a_copied_ajax_request_is_refused_without_echo(paste: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_copied_curl(paste).wwwroot()
    assert "rm -rf" not in caught.value.message and "h/x.php" not in caught.value.message


def stored_alice(logged_in: LoggedIn) -> dict[str, str]:
    raw = keyring.get_password(f"harvester:session:{logged_in.url}", "alice")
    assert raw
    entry: dict[str, str] = json.loads(raw)
    return entry


@pytest.mark.parametrize("form", list(FORMS))
def test_import_curl_stores_a_session_harvest_request_can_use(
    logged_in: LoggedIn, harvest: HarvestRunner, tmp_path: Path, form: str
) -> None:
    entry = stored_alice(logged_in)
    cookie = f"{entry['cookie_name']}={entry['cookie_value']}"
    paste = tmp_path / "paste.txt"
    paste.write_text(FORMS[form](logged_in.url, cookie, entry["sesskey"]))
    user = f"pasted{list(FORMS).index(form)}"
    result = harvest("import-curl", str(paste), "--user", user, "--site", logged_in.url)
    assert result.code == 0, result.err
    assert f"Imported {user}'s session at {logged_in.url} (cookie TotaraSessionabc)" in result.out
    assert entry["cookie_value"] not in result.out + result.err
    answer = harvest(
        "request", "totara_job_my_assignments", "--user", user, "--site", logged_in.url
    )
    assert answer.code == 0, answer.err
    assert json.loads(answer.out)["data"]["totara_job_my_assignments"][0]["idnumber"] == "alice"
    replayed = harvest("request", "--from-curl", str(paste), "--user", user, "--no-check")
    assert replayed.code == 0, replayed.err
    assert json.loads(replayed.out)["data"]["totara_job_my_assignments"]
    keyring.delete_password(f"harvester:session:{logged_in.url}", user)


def test_a_paste_without_a_session_or_for_another_site_is_refused_in_one_line(
    logged_in: LoggedIn, harvest: HarvestRunner, tmp_path: Path
) -> None:
    entry = stored_alice(logged_in)
    paste = tmp_path / "paste.txt"
    paste.write_text(chromium_bash(logged_in.url, "lb=node2", entry["sesskey"]))
    result = harvest("import-curl", str(paste), "--user", "x", "--site", logged_in.url)
    assert result.code == 2 and "no TotaraSession* cookie" in result.err, result.err
    cookie = f"{entry['cookie_name']}={entry['cookie_value']}"
    paste.write_text(chromium_bash(logged_in.url, cookie, entry["sesskey"]))
    result = harvest("import-curl", str(paste), "--user", "x", "--site", "http://127.0.0.1:9")
    assert result.code == 2 and "not to http://127.0.0.1:9" in result.err, result.err
    for text in (result.out, result.err):
        assert entry["cookie_value"] not in text and entry["sesskey"] not in text
    assert keyring.get_password(f"harvester:session:{logged_in.url}", "x") is None


def test_harvest_curl_references_the_variables_and_answers_through_sh(
    logged_in: LoggedIn,
) -> None:
    harvest = logged_in.harvest
    shown = harvest("curl", "totara_webapi_status", "--user", "alice", "--site", logged_in.url)
    assert shown.code == 0, shown.err
    entry = stored_alice(logged_in)
    assert entry["sesskey"] not in shown.out and entry["cookie_value"] not in shown.out
    assert shown.out.startswith(f"curl '{logged_in.url}/totara/webapi/ajax.php' -X POST -H ")
    script = (
        f'eval "$(harvest env --user alice --site {logged_in.url})" && '
        f"harvest curl totara_webapi_status --user alice --site {logged_in.url} | sh -s -- -s"
    )
    # harvest on the PATH of that shell, as for a user whose venv is active
    env = {**harvest.env, "PATH": f"{Path(sys.executable).parent}:{harvest.env['PATH']}"}
    answered = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout)["data"]["totara_webapi_status"]["status"] == "ok"
