"""A site that answers badly is not a dead session (issue 11): proxies' 502 and 504, PHP error
pages, JSON of odd shapes, dribbling and enormous answers. Each through the real `harvest`:
one line, exit 5, no login burned, nothing lost."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import keyring
import pytest

from harvester.devsite.faults import Faults
from harvester.errors import SiteError, SiteUnreachable
from harvester.handoff.client import TotaraClient
from harvester.store.session import Session

from .conftest import HARVEST, LoggedIn

SHAPES = {
    "a proxy's 502": (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", False),
    "a proxy's 504": (504, "<html><body><h1>504 Gateway Time-out</h1></body></html>", False),
    "a PHP fatal error page": (500, "<b>Fatal error</b>: Uncaught Error in /var/www", False),
    "HTML with 200": (200, "<html><body>Welcome</body></html>", False),
    "errors that are a number": (200, '{"errors":5}', True),
    "data that is a list": (200, '{"data":[1]}', True),
    "a JSON string": (200, '"hello"', True),
    "a JSON list": (200, "[1, 2]", True),
    "an error without shape": (200, '{"errors":[{"message":5}]}', True),
    "an empty object": (200, "{}", True),
}


@pytest.fixture
def troubled(logged_in: LoggedIn) -> Iterator[LoggedIn]:
    """alice's stored session on a site whose misbehaviour each test sets; reset afterwards."""
    yield logged_in
    logged_in.site.state.faults = Faults()


def set_shape(site: LoggedIn, shape: str) -> None:
    status, body, is_json = SHAPES[shape]
    site.site.state.faults = Faults(
        ajax_status=status,
        ajax_body=body,
        ajax_content_type="application/json; charset=utf-8" if is_json else "text/html",
    )


def stored_secret(site: LoggedIn) -> str | None:
    return keyring.get_password(f"harvester:session:{site.url}", "alice")


@pytest.mark.parametrize("shape", list(SHAPES))
def test_request_reports_site_trouble_in_one_line(troubled: LoggedIn, shape: str) -> None:
    set_shape(troubled, shape)
    result = troubled.harvest(
        "request", "totara_webapi_status", "-u", "alice", "--site", troubled.url
    )
    assert result.code == 5, result.err
    assert result.err.startswith("harvest: error: ") and result.err.count("\n") == 1
    assert "error: unexpected" not in result.err and "expired" not in result.err


@pytest.mark.parametrize("shape", list(SHAPES))
def test_the_client_raises_a_typed_site_error(troubled: LoggedIn, shape: str) -> None:
    set_shape(troubled, shape)
    raw = stored_secret(troubled)
    assert raw is not None
    session = Session.from_secret("alice", raw)
    with TotaraClient(troubled.url, session) as client, pytest.raises(SiteError):
        client.call("totara_webapi_status")


def test_status_check_says_unreachable_not_invalid_and_keeps_the_table(
    troubled: LoggedIn,
) -> None:
    set_shape(troubled, "a proxy's 502")
    result = troubled.harvest("status", "--check", "--json")
    assert result.code == 5, result.err
    [row] = json.loads(result.out)
    assert row["valid"] is None and "502" in row["why"]


def test_refresh_burns_no_login_on_a_site_in_trouble(troubled: LoggedIn) -> None:
    set_shape(troubled, "a PHP fatal error page")
    before = troubled.site.count("POST", "/login/index.php")
    result = troubled.harvest("refresh", "--user", "alice", "--site", troubled.url)
    assert result.code == 5, result.out + result.err
    assert "FAILED" in result.out
    assert troubled.site.count("POST", "/login/index.php") == before


def test_logout_never_claims_the_site_ended_a_session_it_did_not(troubled: LoggedIn) -> None:
    before = stored_secret(troubled)
    set_shape(troubled, "a proxy's 502")
    result = troubled.harvest("logout", "-u", "alice", "--site", troubled.url)
    assert result.code == 5, result.err
    assert "already ended" not in result.err and "could not end alice's session" in result.err
    assert "kept it here" in result.err
    assert stored_secret(troubled) == before  # nothing lost: a later logout can end it there
    assert troubled.site.count("GET", "/login/logout.php") == 0


def test_a_dribbling_answer_ends_at_the_deadline(troubled: LoggedIn) -> None:
    troubled.site.state.faults = Faults(drip=0.5)  # ~150 bytes: over a minute at this pace
    started = time.monotonic()
    result = troubled.harvest(
        "request", "totara_webapi_status", "-u", "alice", "--site", troubled.url, "--timeout", "2"
    )
    elapsed = time.monotonic() - started
    assert result.code == 5, result.err
    assert "did not finish answering within 2 s" in result.err
    assert elapsed < 20, elapsed  # a hang guard: the whole answer would take over a minute
    print(f"request --timeout 2 against a dribbling site ended after {elapsed:.2f} s")


def test_status_check_and_logout_end_at_the_deadline_too(troubled: LoggedIn) -> None:
    troubled.site.state.faults = Faults(drip=0.5)
    status = troubled.harvest("status", "--check", "--timeout", "1")
    assert status.code == 5, status.err
    logout = troubled.harvest("logout", "-u", "alice", "--site", troubled.url, "--timeout", "1")
    assert logout.code == 5 and "kept it here" in logout.err, logout.err


def peak_rss_mib(argv: list[str], env: dict[str, str]) -> tuple[int, str, float]:
    """Run *argv* under a small Python parent that reports its child's peak RSS, as the kernel
    accounted it (getrusage of the children), in MiB."""
    probe = (
        "import resource, subprocess, sys; "
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "sys.stderr.write(p.stderr); "
        "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *argv], capture_output=True, text=True, env=env, timeout=120
    )
    code, kib = done.stdout.split()
    return int(code), done.stderr, int(kib) / 1024


def test_a_compression_bomb_is_one_line_and_little_memory(troubled: LoggedIn) -> None:
    troubled.site.state.faults = Faults(bomb_mib=1024)  # 1 GiB of zeros in about 1 MB of gzip
    argv = [HARVEST, "request", "totara_webapi_status", "-u", "alice", "--site", troubled.url]
    code, err, peak = peak_rss_mib(argv, troubled.harvest.env)
    assert code == 5, err
    assert err.count("\n") == 1 and "more than 16 MiB" in err
    assert peak < 256, f"peak RSS {peak:.0f} MiB"
    print(f"a 1 GiB gzip bomb: harvest request peaked at {peak:.0f} MiB")


def test_an_oversized_answer_is_refused(troubled: LoggedIn) -> None:
    troubled.site.state.faults = Faults(oversize_mib=20)
    result = troubled.harvest(
        "request", "totara_webapi_status", "-u", "alice", "--site", troubled.url
    )
    assert result.code == 5 and "more than 16 MiB" in result.err, result.err


def test_unreachable_is_still_unreachable_for_the_client() -> None:
    with TotaraClient("http://127.0.0.1:9", timeout=2) as client, pytest.raises(SiteUnreachable):
        client.call("totara_webapi_status_nosession")
