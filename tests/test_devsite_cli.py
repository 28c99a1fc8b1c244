"""`python -m harvester.devsite`: the fixed command line other tools rely on."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


@pytest.fixture
def devsite_process() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harvester.devsite",
            "--port",
            "0",
            "--cookie-suffix",
            "abc",
            "--user",
            "alice:pw1",
            "--user",
            "bob:pw:with:colons",
            "--session-timeout",
            "60",
            "--lockout-threshold",
            "5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def test_prints_base_url_first_serves_and_logs_then_stops_on_sigterm(
    devsite_process: subprocess.Popen[str],
) -> None:
    assert devsite_process.stdout is not None and devsite_process.stderr is not None
    url = devsite_process.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:")
    page = httpx.get(f"{url}/login/index.php", timeout=10)
    assert page.status_code == 200
    assert page.cookies.get("TotaraSessionabc")
    devsite_process.send_signal(signal.SIGTERM)
    assert devsite_process.wait(10) == 0
    log = devsite_process.stderr.read()
    assert '"GET /login/index.php HTTP/1.1" 200' in log


def test_sigint_stops_it_too(devsite_process: subprocess.Popen[str]) -> None:
    assert devsite_process.stdout is not None
    devsite_process.stdout.readline()
    devsite_process.send_signal(signal.SIGINT)
    assert devsite_process.wait(10) == 0


@pytest.mark.parametrize(
    "args",
    [
        ["--user", "nopassword"],
        ["--cookie-suffix", "bad-suffix"],
        ["--session-timeout", "0"],
        ["--port", "x"],
    ],
)
def test_bad_arguments_exit_2_with_one_message(args: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harvester.devsite", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "error:" in proc.stderr


def test_client_ca_requires_a_client_certificate_from_that_ca(tmp_path: Path) -> None:
    import ssl

    import trustme

    site_ca, people = trustme.CA(), trustme.CA()
    leaf, person = site_ca.issue_cert("127.0.0.1"), people.issue_cert("alice@example.com")
    files = {name: tmp_path / f"{name}.pem" for name in ("cert", "key", "people", "me", "ca")}
    leaf.cert_chain_pems[0].write_to_path(str(files["cert"]))
    leaf.private_key_pem.write_to_path(str(files["key"]))
    people.cert_pem.write_to_path(str(files["people"]))
    person.private_key_and_cert_chain_pem.write_to_path(str(files["me"]))
    site_ca.cert_pem.write_to_path(str(files["ca"]))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harvester.devsite",
            "--tls-cert",
            str(files["cert"]),
            "--tls-key",
            str(files["key"]),
            "--client-ca",
            str(files["people"]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:")
        with_cert = ssl.create_default_context(cafile=str(files["ca"]))
        with_cert.load_cert_chain(str(files["me"]))
        page = httpx.get(f"{url}/login/index.php", verify=with_cert, timeout=10)
        assert page.status_code == 200
        with pytest.raises(httpx.HTTPError):  # no client certificate: the handshake is refused
            httpx.get(
                f"{url}/login/index.php",
                verify=ssl.create_default_context(cafile=str(files["ca"])),
                timeout=10,
            ).raise_for_status()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
