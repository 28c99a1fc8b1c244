"""Sites behind the networks people have (docs/networks.md): a private CA given three ways, an
insecure development site, a real forward proxy (tinyproxy, started and stopped by pid), mutual
TLS, and `harvest doctor` saying which of them is in use and why. All on loopback, through the
real `harvest`, real Chromium and the real keyring."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harvester.devsite import DevSite

from .conftest import ALICE_PASSWORD, HarvestRunner, Result, free_port
from .test_agent import Agent, wait_no_browser
from .test_sites import IDP_STEPS

trustme = pytest.importorskip("trustme")
REQUEST = ("request", "totara_webapi_status", "-u", "alice")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(organization_name="Intranet CA")


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "intranet-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_tls(ca: trustme.CA, name: str = "127.0.0.1") -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    return context


def ok(result: Result) -> Result:
    assert result.code == 0, result.err
    return result


# -- trust --------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["", "/totara"], ids=["root", "folder"])
@pytest.mark.parametrize("way", ["--ca-file", "SSL_CERT_FILE", "ca_file"])
def test_a_private_ca_is_refused_until_it_is_trusted_then_every_command_works(
    make_totara_site: Callable[..., DevSite],
    harvest: HarvestRunner,
    ca: trustme.CA,
    ca_file: str,
    way: str,
    path: str,
) -> None:
    site = make_totara_site({"alice": ALICE_PASSWORD}, tls=server_tls(ca), path=path)
    refused = harvest.login(site.url)
    assert refused.code == 5, refused.err
    assert refused.err.count("\n") == 1, refused.err
    assert "is issued by 'Intranet CA" in refused.err and "which is not trusted" in refused.err
    assert "ca_file or --ca-file" in refused.err

    where = site.url
    flags: tuple[str, ...] = ()
    env: dict[str, str] = {}
    if way == "--ca-file":
        flags = ("--ca-file", ca_file)
    elif way == "SSL_CERT_FILE":
        env = {"SSL_CERT_FILE": ca_file}
    else:
        ok(harvest("site", "add", "lms", "--url", site.url, "--ca-file", ca_file))
        where = "lms"
    ok(harvest.login(where, *flags, "--save-password", **env))
    answer = ok(harvest(*REQUEST, "--site", where, *flags, **env))
    assert '"status": "ok"' in answer.out or '"status":"ok"' in answer.out, answer.out
    ok(harvest("status", "--check", "--site", where, *flags, **env))
    site.state.expire_sessions("alice")  # refresh logs in again, through the same trust
    refreshed = ok(harvest("refresh", "-u", "alice", "--site", where, *flags, **env))
    assert "logged in again" in refreshed.out, refreshed.out
    doctor = harvest("doctor", *flags, **env)
    assert f"trust: ok: {ca_file}, from " in doctor.out, doctor.out
    ok(harvest("logout", "-u", "alice", "--site", where, *flags, **env))


def certutil_subjects(database: Path) -> list[str]:
    """The organisations of the CAs an NSS database trusts."""
    listed = subprocess.run(
        ["certutil", "-L", "-d", f"sql:{database}"], capture_output=True, text=True, check=True
    )
    names = []
    for nickname in [line.rsplit(None, 1)[0] for line in listed.stdout.splitlines()[4:] if line]:
        shown = subprocess.run(
            ["certutil", "-L", "-d", f"sql:{database}", "-n", nickname],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        names += [o for o in ("Intranet CA", "Branch CA") if f"O={o}" in shown]
    return sorted(names)


@pytest.mark.own_browser  # an agent of its own, started and stopped here
def test_one_agent_serves_sites_of_two_private_cas_in_turn(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner, ca: trustme.CA, tmp_path: Path
) -> None:
    """The agent runs a browser per set of CAs in one folder: each keeps its own trust (a
    second CA's database once replaced the first's under its running browser)."""
    branch = trustme.CA(organization_name="Branch CA")
    logins = []
    for name, issuer in (("intranet", ca), ("branch", branch)):
        site = make_totara_site({"alice": ALICE_PASSWORD}, tls=server_tls(issuer))
        pem = tmp_path / f"{name}.pem"
        issuer.cert_pem.write_to_path(str(pem))
        logins.append((site.url, str(pem)))
    agent = Agent(harvest)
    try:
        for url, pem in (*logins, logins[0]):
            ok(harvest.login(url, "--ca-file", pem))
        assert agent.status()["logins"] == 3  # all three in the agent's browsers
        # NSS reads a running browser's database while it runs, and its cache can hide for a
        # while that the file was replaced: so look at the databases, one per set of CAs.
        trusted = sorted(
            certutil_subjects(home / ".pki" / "nssdb") for home in harvest.tmpdir.glob("*/home*")
        )
        assert trusted == [["Branch CA"], ["Intranet CA"]], trusted
    finally:
        agent.stop()
    assert not wait_no_browser(harvest.tmpdir)


def test_insecure_works_on_the_site_only_and_says_so_on_every_command(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner, ca: trustme.CA
) -> None:
    site = make_totara_site({"alice": ALICE_PASSWORD}, tls=server_tls(ca))
    login = ok(harvest.login(site.url, "--insecure"))
    warning = f"harvest: warning: the TLS certificate of {site.url} is not checked (--insecure)"
    assert warning in login.err, login.err
    request = ok(harvest(*REQUEST, "--site", site.url, "--insecure"))
    assert warning in request.err, request.err
    # without the flag the site is refused again: nothing was remembered behind the user's back
    assert harvest(*REQUEST, "--site", site.url).code == 5


def test_insecure_never_reaches_an_identity_provider_on_another_origin(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner, ca: trustme.CA
) -> None:
    nobody = trustme.CA(organization_name="Nobody trusts me")
    sso = make_totara_site(
        {"alice": ALICE_PASSWORD}, tls=server_tls(ca), idp="button", idp_tls=server_tls(nobody)
    )
    assert sso.idp_url and sso.idp_url.startswith("https://")
    ok(harvest("site", "add", "sso", "--url", sso.url, "--insecure", *IDP_STEPS))
    login = harvest("login", "--site", "sso", "-u", "alice", "--password-stdin", input="pw1\n")
    assert login.code == 5, login.err
    assert f"the TLS certificate of {sso.idp_url} (on the way to {sso.url})" in login.err
    assert "ERR_CERT_AUTHORITY_INVALID" in login.err


# -- a real forward proxy ----------------------------------------------------------------------
@dataclass
class TinyProxy:
    """tinyproxy on loopback, started here and stopped by its pid."""

    port: int
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connects(self) -> list[str]:
        return [
            line
            for line in self.log.read_text().splitlines()
            if "Request" in line and "CONNECT 127.0.0.1:" in line
        ]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def start_proxy(tmp_path: Path) -> Iterator[Callable[..., TinyProxy]]:
    if shutil.which("tinyproxy") is None:
        pytest.skip("tinyproxy is not installed (scripts/test installs it)")
    started: list[TinyProxy] = []

    def start(password: str = "") -> TinyProxy:
        port = free_port()
        folder = tmp_path / f"proxy-{port}"
        folder.mkdir()
        log = folder / "tinyproxy.log"
        lines = [
            f"Port {port}",
            "Listen 127.0.0.1",
            f'LogFile "{log}"',
            "LogLevel Connect",
            "MaxClients 50",
            "Timeout 30",
        ]
        if password:
            lines.append(f"BasicAuth harvey {password}")
        (folder / "tinyproxy.conf").write_text("\n".join(lines) + "\n")
        process = subprocess.Popen(
            ["tinyproxy", "-d", "-c", str(folder / "tinyproxy.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        proxy = TinyProxy(port, log, process)
        started.append(proxy)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                import socket

                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return proxy
            except OSError:
                time.sleep(0.05)
        raise AssertionError("tinyproxy did not start")

    yield start
    for proxy in started:
        proxy.stop()


def test_every_command_goes_through_the_proxy_and_no_proxy_bypasses_it(
    make_totara_site: Callable[..., DevSite],
    harvest: HarvestRunner,
    ca: trustme.CA,
    ca_file: str,
    start_proxy: Callable[..., TinyProxy],
) -> None:
    proxy = start_proxy()
    site = make_totara_site({"alice": ALICE_PASSWORD}, tls=server_tls(ca), path="/totara")
    env = {"HTTPS_PROXY": proxy.url, "SSL_CERT_FILE": ca_file}
    ok(harvest.login(site.url, **env))
    # the probe's, the browser's (the form and the landing page) and the verifying client's
    after_login = len(proxy.connects())
    assert after_login >= 3, proxy.connects()
    ok(harvest(*REQUEST, "--site", site.url, **env))
    after_request = len(proxy.connects())
    assert after_request > after_login  # the client's own tunnel
    ok(harvest("status", "--check", "--site", site.url, **env))
    ok(harvest("refresh", "-u", "alice", "--site", site.url, **env))
    doctor = harvest("doctor", **env)
    assert f"proxy: ok: {proxy.url}, from the HTTPS_PROXY variable" in doctor.out, doctor.out
    # NO_PROXY sends the site direct: no tunnel more
    before = len(proxy.connects())
    ok(harvest.login(site.url, NO_PROXY="127.0.0.1", **env))
    ok(harvest(*REQUEST, "--site", site.url, NO_PROXY="127.0.0.1", **env))
    assert len(proxy.connects()) == before
    ok(harvest("logout", "-u", "alice", "--site", site.url, **env))


def test_a_proxy_that_refuses_or_is_down_is_named_and_its_password_never_shows(
    make_totara_site: Callable[..., DevSite],
    harvest: HarvestRunner,
    ca: trustme.CA,
    ca_file: str,
    start_proxy: Callable[..., TinyProxy],
) -> None:
    proxy = start_proxy(password="right-proxy-pw")
    site = make_totara_site({"alice": ALICE_PASSWORD}, tls=server_tls(ca))
    base = {"SSL_CERT_FILE": ca_file}
    wrong = harvest.login(
        site.url, HTTPS_PROXY=f"http://harvey:wrong-proxy-pw@127.0.0.1:{proxy.port}", **base
    )
    assert wrong.code == 5, wrong.err
    assert f"the proxy http://harvey:***@127.0.0.1:{proxy.port}" in wrong.err, wrong.err
    assert "refused the credentials" in wrong.err and "wrong-proxy-pw" not in wrong.err
    asks = harvest.login(site.url, HTTPS_PROXY=proxy.url, **base)
    assert asks.code == 5 and "asks for credentials" in asks.err, asks.err
    down = harvest.login(site.url, "--proxy", f"http://127.0.0.1:{free_port()}", **base)
    assert down.code == 5 and "nothing is listening at the proxy" in down.err, down.err

    # the right password: it works, and it is in no process's arguments while it runs
    running = harvest.popen(
        "login",
        "-u",
        "alice",
        "--site",
        site.url,
        "--password-stdin",
        "--proxy",
        f"http://harvey:right-proxy-pw@127.0.0.1:{proxy.port}",
        input=f"{ALICE_PASSWORD}\n",
        **base,
    )
    seen_in_arguments: dict[str, bytes] = {}
    while running.poll() is None:
        for entry in Path("/proc").iterdir():
            try:
                argv = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"right-proxy-pw" in argv:
                seen_in_arguments[entry.name] = argv
        time.sleep(0.05)
    out, err = running.communicate()
    assert running.returncode == 0, err
    assert "right-proxy-pw" not in out + err
    # The process list holds it only where the test itself put it: in harvest's own --proxy.
    # (A child caught between fork and exec shows its parent's arguments, no copy of its own:
    # keyring's backend discovery runs `ldconfig -p` that way.)
    own_argv = seen_in_arguments.get(str(running.pid))
    elsewhere = {pid: argv for pid, argv in seen_in_arguments.items() if argv != own_argv}
    assert not elsewhere, elsewhere


# -- mutual TLS ---------------------------------------------------------------------------------
def test_a_site_that_asks_for_a_client_certificate(
    make_totara_site: Callable[..., DevSite],
    harvest: HarvestRunner,
    ca: trustme.CA,
    ca_file: str,
    tmp_path: Path,
) -> None:
    from cryptography.hazmat.primitives import serialization

    people = trustme.CA(organization_name="People CA")
    tls = server_tls(ca)
    tls.load_verify_locations(cadata=people.cert_pem.bytes().decode())
    tls.verify_mode = ssl.CERT_REQUIRED
    site = make_totara_site({"alice": ALICE_PASSWORD}, tls=tls)
    mine = people.issue_cert("alice@example.com")
    cert, key = tmp_path / "alice.pem", tmp_path / "alice.key"
    mine.cert_chain_pems[0].write_to_path(str(cert))
    locked = serialization.load_pem_private_key(mine.private_key_pem.bytes(), None)
    key.write_bytes(
        locked.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"key-passphrase"),
        )
    )

    without = harvest.login(site.url, "--ca-file", ca_file)
    assert without.code == 5, without.err
    assert "client certificate" in without.err, without.err

    ok(
        harvest(
            "site",
            "add",
            "m",
            "--url",
            site.url,
            "--ca-file",
            ca_file,
            "--client-cert",
            str(cert),
            "--client-key",
            str(key),
        )
    )
    no_passphrase = harvest.login("m")
    assert no_passphrase.code == 2 and "does not load" in no_passphrase.err, no_passphrase.err
    assert "harvest site passphrase" in no_passphrase.err
    ok(harvest("site", "passphrase", "m", input="key-passphrase\n"))
    ok(harvest.login("m"))
    ok(harvest(*REQUEST, "--site", "m"))
    doctor = harvest("doctor")
    assert (
        f"m ({site.url}) client certificate: ok: {cert}, key {key} (passphrase from the keyring)"
        in doctor.out
    ), doctor.out
    ok(harvest("logout", "-u", "alice", "--site", "m"))
    ok(harvest("site", "passphrase", "m", "--forget"))


# -- doctor ------------------------------------------------------------------------------------
def test_doctor_names_the_certificate_problem_in_words(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner, ca: trustme.CA
) -> None:
    site = make_totara_site({"alice": ALICE_PASSWORD}, tls=server_tls(ca))
    ok(harvest("site", "add", "intranet", "--url", site.url))
    ok(
        harvest(
            "site", "add", "dev", "--url", site.url.replace("127.0.0.1", "localhost"), "--insecure"
        )
    )
    doctor = harvest("doctor")
    assert doctor.code == 5, doctor.out
    lines = doctor.out.splitlines()
    system = "the system store (no ca_file, SSL_CERT_FILE or SSL_CERT_DIR is set)"
    assert f"intranet ({site.url}) trust: ok: {system}" in lines, lines
    assert any(
        line.startswith(
            f"intranet ({site.url}): PROBLEM: the TLS certificate of {site.url} is issued by "
            "'Intranet CA'"
        )
        for line in lines
    ), lines
    assert any(
        line.startswith("dev (") and "trust: ok: none: certificates are not checked" in line
        for line in lines
    ), lines
    assert any(
        line.startswith("dev (") and ": ok: login page with the login form" in line
        for line in lines
    ), lines
