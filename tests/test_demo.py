"""`harvest demo`: what scripts/demo runs after set-up."""

from __future__ import annotations

from .conftest import HarvestRunner


def test_demo_logs_alice_in_and_gets_status_ok(harvest: HarvestRunner) -> None:
    result = harvest("demo")
    assert result.code == 0, result.err
    assert "Logged in alice at http://127.0.0.1:" in result.out
    assert '"status":"ok"' in result.out
    assert '"idnumber":"alice"' in result.out  # a real operation that needs the user
    assert "with the cookie shows: You are logged in as Alice Example" in result.out
    assert "ajax.php now answers require_login" in result.out  # expiry, then refresh
    assert "(logins the site has seen: 2)" in result.out
    assert "Logged alice out" in result.out
    assert list(harvest.tmpdir.iterdir()) == []
