"""Sites as they are really deployed (issue 11): in a folder, on default ports, over https with
a Secure cookie, under another spelling of the same URL; and logins where a page tries to send
the password elsewhere or sets a decoy cookie. Every case through the real `harvest`."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import keyring
import pytest

from harvester.devsite import DevSite
from harvester.devsite.faults import Faults

from .conftest import ALICE_PASSWORD, BROWSER_ARGS, HARVEST, HarvestRunner
from .test_env_exec import SEED_CURL
from .test_sites import IDP_STEPS


def stored(url: str, user: str = "alice") -> dict[str, object] | None:
    raw = keyring.get_password(f"harvester:session:{url}", user)
    return None if raw is None else json.loads(raw)


# -- a Totara installed in a folder ------------------------------------------------------------
def test_every_command_works_on_a_site_in_a_folder(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner
) -> None:
    site = make_totara_site({"alice": ALICE_PASSWORD}, cookie_suffix="abc", path="/totara")
    assert site.url.endswith("/totara") and site.cookie_path == "/totara/"
    login = harvest.login(site.url + "/", "--save-password")  # a trailing slash is the same site
    assert login.code == 0, login.err
    assert f"Logged in alice at {site.url} (cookie TotaraSessionabc)" in login.out
    assert (stored(site.url) or {})["wwwroot"] == site.url

    script = f'eval "$({HARVEST} env --user alice --site {site.url})" && {SEED_CURL}'
    curl = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=harvest.env, timeout=60
    )
    assert json.loads(curl.stdout)["data"]["totara_webapi_status"]["status"] == "ok", curl

    request = harvest("request", "totara_webapi_status", "--user", "alice", "--site", site.url)
    assert request.code == 0, request.err
    checked = harvest("status", "--check", "--json")
    assert checked.code == 0 and json.loads(checked.out)[0]["valid"] is True, checked.out

    site.state.expire_sessions("alice")
    before = site.count("POST", "/login/index.php")
    refreshed = harvest("refresh", "--user", "alice")
    assert refreshed.code == 0 and "refreshed" in refreshed.out, refreshed.err
    assert site.count("POST", "/login/index.php") == before + 1

    logout = harvest("logout", "--user", "alice", "--site", site.url)
    assert logout.code == 0 and "logged alice out" in logout.out.lower(), logout.err
    assert site.count("GET", "/login/logout.php") == 1
    assert stored(site.url) is None


def test_identity_provider_steps_on_a_site_in_a_folder(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner
) -> None:
    sso = make_totara_site({"alice": ALICE_PASSWORD}, idp="button", path="/lms/totara")
    assert harvest("site", "add", "sso", "--url", sso.url, *IDP_STEPS).code == 0
    login = harvest("login", "--site", "sso", "-u", "alice", "--password-stdin", input="pw1\n")
    assert login.code == 0, login.err
    assert sso.count("POST", "/login/index.php") == 0  # the provider's forms, not the site's
    answer = harvest("request", "totara_webapi_status", "--site", "sso", "-u", "alice")
    assert answer.code == 0, answer.err
    assert harvest("doctor").code == 0


def test_https_in_a_folder_with_a_secure_cookie(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner, tmp_path: Path
) -> None:
    import trustme
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(tls)
    site = make_totara_site({"alice": ALICE_PASSWORD}, tls=tls, path="/totara")
    # Chromium trusts exactly this key; harvester's HTTP checks trust the test CA.
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    env = {
        "SSL_CERT_FILE": str(ca_file),
        "HARVEST_BROWSER_ARGS": f"{BROWSER_ARGS} --ignore-certificate-errors-spki-list={pin}",
    }
    login = harvest.login(site.url, **env)
    assert login.code == 0, login.err
    assert site.url.startswith("https://")
    page = harvest("request", "totara_webapi_status", "-u", "alice", "--site", site.url, **env)
    assert page.code == 0, page.err
    logout = harvest("logout", "-u", "alice", "--site", site.url, **env)
    assert logout.code == 0, logout.err


def test_the_site_sets_a_secure_cookie_over_https_in_its_folder() -> None:
    import trustme

    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(tls)
    import httpx

    with DevSite(tls=tls, path="/totara") as site, ca.cert_pem.tempfile() as ca_path:
        page = httpx.get(
            f"{site.url}/login/index.php", verify=ssl.create_default_context(cafile=ca_path)
        )
        assert page.headers["set-cookie"].endswith("; path=/totara/; Secure; HttpOnly")


# -- one site, one identity ----------------------------------------------------------------------
def port_80_is_free() -> bool:
    if os.geteuid() != 0:
        return False
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", 80))
        except OSError:
            return False
    return True


def test_the_default_port_is_the_same_site_as_none(harvest: HarvestRunner) -> None:
    # asked when it runs, not at collection: two workers collecting at once each bind it
    if not port_80_is_free():
        pytest.skip("needs root and a free port 80 on 127.0.0.1")
    with DevSite({"alice": ALICE_PASSWORD}, port=80) as site:
        assert site.url == "http://127.0.0.1:80"
        login = harvest.login("HTTP://127.0.0.1:80/")  # the browser shows http://127.0.0.1/...
        assert login.code == 0, login.err
        assert "Logged in alice at http://127.0.0.1 (" in login.out
        env = harvest("env", "--user", "alice", "--site", "http://127.0.0.1")
        assert env.code == 0 and "TOTARA_WWWROOT='http://127.0.0.1'" in env.out
        listed = json.loads(harvest("status", "--json").out)
        assert [row["site"] for row in listed] == ["http://127.0.0.1"]
        assert harvest("logout", "--user", "alice", "--site", "http://127.0.0.1:80").code == 0


def test_usernames_are_trimmed_and_lower_cased_like_totara_does(
    site: DevSite, harvest: HarvestRunner
) -> None:
    assert harvest.login(site.url, user=" ALICE ").code == 0
    assert harvest.login(site.url, user="Alice").code == 0
    rows = json.loads(harvest("status", "--json").out)
    assert [row["user"] for row in rows] == ["alice"]
    assert harvest("env", "--user", "alice", "--site", site.url).code == 0
    assert harvest("env", "--user", "  ALICE", "--site", site.url).code == 0


# -- the password goes to the site only ----------------------------------------------------------
class Collector:
    """Another origin that records whatever reaches it."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                collector.seen.append(self.rfile.read(length).decode("latin-1"))
                self.send_response(204)
                self.end_headers()

            do_GET = do_POST

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    other = Collector()
    yield other
    other.stop()


def test_a_form_that_posts_elsewhere_gets_no_password(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner, collector: Collector
) -> None:
    site = make_totara_site(
        {"alice": ALICE_PASSWORD}, faults=Faults(form_action=f"{collector.url}/collect")
    )
    result = harvest.login(site.url)
    assert result.code == 7, result.err
    assert result.err.count("\n") == 1 and f"another origin ({collector.url})" in result.err
    assert collector.seen == [] and site.count("POST", "/login/index.php") == 0
    assert stored(site.url) is None


# -- cookies chosen by proof -------------------------------------------------------------------
def test_a_decoy_session_cookie_set_first_is_not_taken(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner
) -> None:
    site = make_totara_site(
        {"alice": ALICE_PASSWORD}, faults=Faults(decoy_cookie="TotaraSessionAAA")
    )
    result = harvest.login(site.url)
    assert result.code == 0, result.err
    entry = stored(site.url) or {}
    assert entry["cookie_name"] == "TotaraSession", entry["cookie_name"]
    assert harvest("request", "totara_webapi_status", "-u", "alice", "--site", site.url).code == 0


# -- the sesskey chosen by proof ---------------------------------------------------------------
@pytest.mark.parametrize("pages", ["lean", "full"])
def test_decoy_sesskeys_before_m_cfg_are_not_taken(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner, pages: str
) -> None:
    """A theme's comment and a plugin's script carry "sesskey":"…" before M.cfg: the stored
    sesskey is M.cfg's own, on lean pages (no script runs: read from the literal) and on full
    ones (M.cfg.sesskey as the page sees it)."""
    site = make_totara_site({"alice": ALICE_PASSWORD}, faults=Faults(decoy_sesskey="before"))
    if pages == "full":
        added = harvest("site", "add", "d", "--url", site.url, "--login-needs-scripts")
        assert added.code == 0, added.err
    result = harvest.login(site.url)
    assert result.code == 0, result.err
    entry = stored(site.url) or {}
    record = site.state.find(entry["cookie_value"])  # the site's own record of the session
    assert record is not None and record.userid
    assert entry["sesskey"] == record.sesskey
    assert harvest("request", "totara_webapi_status", "-u", "alice", "--site", site.url).code == 0


def test_a_page_whose_only_sesskey_is_wrong_fails_in_one_line(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner
) -> None:
    site = make_totara_site({"alice": ALICE_PASSWORD}, faults=Faults(decoy_sesskey="only"))
    result = harvest.login(site.url)
    assert result.code == 7, result.err
    assert result.err.count("\n") == 1 and "sesskey does not belong" in result.err, result.err
    assert stored(site.url) is None
