"""The bad-input matrix (docs/errors.md): every case through the real
`harvest`, one line on stderr with its documented exit code, and afterwards the session stored
before the case is unchanged and still works."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import keyring
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harvester.devsite import DevSite
from harvester.devsite.faults import Faults
from harvester.testing.private_keyring import PrivateSecretService

from .conftest import ALICE_PASSWORD, HARVEST, HarvestRunner, Result, free_port, runner_agent

LANDING = (
    '<html><head><script>M.cfg = {"wwwroot":"%s","sesskey":"Abc123Def4"};</script></head>'
    '<body class="format-site path-totara-dashboard">Dashboard</body></html>'
)
FORM = (
    '<html><head><script>M.cfg = {"sesskey":"Tok"};</script></head><body class="notloggedin">'
    '<form id="login" method="post" action="/login/index.php"><input id="username" name="u">'
    '<input id="password" name="p" type="password"><button id="loginbtn">Log in</button>'
    "</form></body></html>"
)


class FakeSite:
    """Not quite Totara, on purpose: `mode` says what is wrong with it."""

    def __init__(self, mode: str) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status: int, body: str = "", headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
                data = body.encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if fake.mode == "plain":
                    self._send(200, "<html><body><h1>Just a web server</h1></body></html>")
                elif fake.mode == "no-form" and self.path.startswith("/login/index.php"):
                    self._send(200, LANDING.replace("Dashboard", "Welcome, log in elsewhere"))
                elif self.path.startswith("/login/index.php"):
                    self._send(200, FORM)
                elif self.path.startswith("/landing"):
                    page = LANDING % fake.url
                    if fake.mode == "no-sesskey":
                        page = page.replace('"sesskey":"Abc123Def4"', '"theme":"x"')
                    if fake.mode == "odd-sesskey":  # not ASCII: no HTTP header can carry it
                        page = page.replace('"sesskey":"Abc123Def4"', '"sesskey":"Abc\u00e9\u2603"')
                    self._send(200, page)
                else:
                    self._send(404, "not found")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                headers = {"Location": fake.url + "/landing"}
                if fake.mode in ("no-sesskey", "odd-sesskey"):
                    headers["Set-Cookie"] = "TotaraSession=abcdef0123456789; path=/; HttpOnly"
                self._send(303, "", headers)

            def log_message(self, *args: object) -> None:
                pass

        self.mode = mode
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class World:
    """Everything the cases point at, started once for the module."""

    harvest: HarvestRunner
    site: DevSite
    sites: dict[str, str] = field(default_factory=dict)
    config: Path = Path()
    stored: str = ""

    def still_works(self) -> None:
        """The session stored before the case is unchanged and the site accepts it."""
        raw = keyring.get_password(f"harvester:session:{self.site.url}", "alice")
        assert raw == self.stored, "the stored session changed"
        entry = json.loads(raw)
        answer = httpx.post(
            f"{self.site.url}/totara/webapi/ajax.php",
            json={"operationName": "totara_job_my_assignments", "variables": {}},
            headers={
                "Cookie": f"{entry['cookie_name']}={entry['cookie_value']}",
                "X-Totara-Sesskey": entry["sesskey"],
            },
        )
        assert answer.json()["data"]["totara_job_my_assignments"][0]["idnumber"] == "alice"


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[World]:
    import trustme

    home = tmp_path_factory.mktemp("matrix")
    config = home / "config.toml"
    runner = HarvestRunner.in_folder(home, runner_agent(request))
    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(tls)
    expired, other_name = (ssl.create_default_context(ssl.Purpose.CLIENT_AUTH) for _ in "ab")
    long_ago = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    ca.issue_cert(
        "127.0.0.1", not_before=long_ago, not_after=long_ago.replace(month=2)
    ).configure_cert(expired)
    ca.issue_cert("lms.example.com").configure_cert(other_name)
    ca_file = home / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    users = {"alice": ALICE_PASSWORD, "dave": "dave-pw"}
    started = [
        site := DevSite(users, cookie_suffix="m", lockout_threshold=3).start(),
        held := DevSite(users, force_password_change=["alice"]).start(),
        down := DevSite(users, maintenance=True).start(),
        slow := DevSite(users, delay=3).start(),
        https := DevSite(users, tls=tls).start(),
        expired_site := DevSite(users, tls=expired).start(),
        renamed := DevSite(users, tls=other_name).start(),
        foreign := DevSite(users, faults=Faults(form_action="http://127.0.0.1:9/collect")).start(),
    ]
    modes = ("plain", "no-form", "no-cookie", "no-sesskey", "odd-sesskey")
    fakes = {mode: FakeSite(mode) for mode in modes}
    for _ in range(3):  # dave is locked out
        assert site.state.authenticate("dave", "wrong") is None
    try:
        login = runner.login(site.url)
        assert login.code == 0, login.err
        stored = keyring.get_password(f"harvester:session:{site.url}", "alice")
        assert stored
        sites = {
            "site": site.url,
            "held": held.url,
            "down": down.url,
            "slow": slow.url,
            "https": https.url,
            "expired": expired_site.url,
            "renamed": renamed.url,
            "ca_file": str(ca_file),
            "foreign": foreign.url,
            **{mode: fake.url for mode, fake in fakes.items()},
        }
        yield World(runner, site, sites, config, stored)
    finally:
        for server in started:
            server.stop()
        for fake in fakes.values():
            fake.stop()
        runner.cleanup()


@dataclass(frozen=True)
class Case:
    id: str
    code: int
    says: str
    run: Callable[[World], Result]


def login(
    site: str, user: str = "bob", password: str = "pw", *extra: str
) -> Callable[[World], Result]:
    def run(world: World) -> Result:
        return world.harvest.login(
            world.sites.get(site, site), *extra, user=user, password=password
        )

    return run


def cli(*args: str, input: str | None = None, **env: str) -> Callable[[World], Result]:
    def run(world: World) -> Result:
        argv = [a.format(**world.sites) for a in args]
        return world.harvest(*argv, input=input, **env)

    return run


def with_faults(run: Callable[[World], Result], **faults: object) -> Callable[[World], Result]:
    """*run* while the site that holds alice's session misbehaves (devsite/faults.py)."""

    def faulty(world: World) -> Result:
        world.site.state.faults = Faults(**faults)  # type: ignore[arg-type]
        try:
            return run(world)
        finally:
            world.site.state.faults = Faults()

    return faulty


REQUEST = ("request", "totara_webapi_status", "-u", "alice", "--site", "{site}")


def with_index(
    content: bytes | Callable[[bytes], bytes] | None, *args: str
) -> Callable[[World], Result]:
    """`harvest ARGS` with the index of stored sessions damaged (*content*, or made from the
    index as it is; None: a folder in its place); afterwards the index is as it was and what
    was set aside is gone."""

    def run(world: World) -> Result:
        folder = Path(world.harvest.env["XDG_STATE_HOME"]) / "harvester"
        index = folder / "sessions.json"
        saved = index.read_bytes()
        index.unlink()
        if content is None:
            index.mkdir()
        else:
            index.write_bytes(content(saved) if callable(content) else content)
        try:
            return cli(*args)(world)
        finally:
            shutil.rmtree(index) if index.is_dir() else index.unlink(missing_ok=True)
            for aside in folder.glob("sessions.json.damaged-*"):
                shutil.rmtree(aside) if aside.is_dir() else aside.unlink()
            index.write_bytes(saved)

    return run


def with_bad_row(saved: bytes) -> bytes:
    """The index as it is, plus a row whose obtained time is not a number."""
    data = json.loads(saved)
    data["sessions"].append({"wwwroot": "http://x", "user": "u", "obtained_at": "yesterday"})
    return json.dumps(data).encode()


def closed_stdout(*args: str) -> Callable[[World], Result]:
    """`harvest ARGS >&-`: started with standard output closed."""

    def run(world: World) -> Result:
        argv = [a.format(**world.sites) for a in args]
        proc = subprocess.run(
            [HARVEST, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=world.harvest.env, timeout=60, pass_fds=(), close_fds=True,
            preexec_fn=lambda: os.close(1),
        )  # fmt: skip
        return Result(proc.returncode, "", proc.stderr)

    return run


def with_file(name: str, content: bytes, *args: str) -> Callable[[World], Result]:
    """`harvest ARGS` with {file} naming a file of *content* (bytes as they are)."""

    def run(world: World) -> Result:
        path = world.config.parent / name  # the module's own folder, never a shared /tmp path
        path.write_bytes(content)
        try:
            return cli(*(a.replace("{file}", str(path)) for a in args))(world)
        finally:
            path.unlink()

    return run


def state_file(world: World, *, inside: bool = False) -> str:
    """A file where a folder should be: XDG_STATE_HOME=that file; or (*inside*) a folder whose
    `harvester` is a file, for XDG_STATE_HOME or XDG_CONFIG_HOME."""
    if inside:
        folder = world.config.parent / "with-a-file"
        folder.mkdir(exist_ok=True)
        (folder / "harvester").write_text("not a folder")
        return str(folder)
    path = world.config.parent / "a-file"
    path.write_text("not a folder")
    return str(path)


def env_of(world: World) -> tuple[str, ...]:
    return ("env", "--user", "alice", "--site", world.site.url)


def with_config(text: str | bytes, *args: str) -> Callable[[World], Result]:
    def run(world: World) -> Result:
        if isinstance(text, bytes):
            world.config.write_bytes(text)
        else:
            world.config.write_text(text)
        try:
            return cli(*args)(world)
        finally:
            world.config.unlink()

    return run


def with_entry(user: str, secret: str, *extra: str) -> Callable[[World], Result]:
    def run(world: World) -> Result:
        service = f"harvester:session:{world.site.url}"
        keyring.set_password(service, user, secret)
        try:
            return world.harvest("env", "--user", user, "--site", world.site.url, *extra)
        finally:
            keyring.delete_password(service, user)

    return run


def in_spare_keyring(prepare: str, **env: str) -> Callable[[World], Result]:
    """`harvest env` against a second private Secret Service put in a bad state first."""

    def run(world: World) -> Result:
        spare = PrivateSecretService()
        spare_env = spare.start()
        pid = spare.keyring_pid
        assert pid is not None
        try:
            if prepare == "locked":
                import secretstorage
                from jeepney.io.blocking import open_dbus_connection

                address = spare_env["DBUS_SESSION_BUS_ADDRESS"]
                with open_dbus_connection(address) as connection:
                    secretstorage.get_default_collection(connection).lock()
            else:
                os.kill(pid, signal.SIGSTOP)  # the daemon hangs: every call waits forever
            args = ("env", "--user", "alice", "--site", world.site.url)
            return world.harvest(*args, **{**spare_env, **env})
        finally:
            spare.stop()  # continues a stopped daemon before it terminates it

    return run


GOOD_ENTRY_BUT = '{"v": 99, "cookie_name": "TotaraSessionm", "cookie_value": "x", "sesskey": "y", "wwwroot": "w"}'  # noqa: E501

CASES = [
    Case("wrong password", 3, "refused the login", login("site", "alice", "not-the-password")),
    Case("unknown user", 3, "refused the login", login("site", "nobody", "pw")),
    Case("locked account", 3, "refused the login", login("site", "dave", "dave-pw")),
    Case("empty password", 2, "no password on standard input", login("site", "alice", "")),
    Case(
        "not a Totara site (a plain web server)",
        7,
        "not a Totara login page",
        login("plain", "alice", "pw"),
    ),
    Case(
        "a login page without the form",
        7,
        "no #username and #password fields",
        login("no-form", "alice", "pw"),
    ),
    Case(
        "a port with nothing listening",
        5,
        "nothing is listening",
        lambda w: login(f"http://127.0.0.1:{free_port()}")(w),
    ),
    Case(
        "an unresolvable host", 5, "cannot resolve the host", login("http://no-such-host.invalid")
    ),
    Case(
        "a TLS certificate from a CA that is not trusted",
        5,
        "which is not trusted",
        login("https"),
    ),
    Case(
        "a CA file that does not exist",
        2,
        "does not exist",
        login("https", "alice", ALICE_PASSWORD, "--ca-file", "/nonexistent/ca.pem"),
    ),
    Case(
        "a CA file that is not PEM",
        2,
        "holds no PEM certificate",
        login("https", "alice", ALICE_PASSWORD, "--ca-file", "/etc/hostname"),
    ),
    Case(
        "an expired site certificate",
        5,
        "expired on 2020-02-01",
        lambda w: login("expired", "alice", ALICE_PASSWORD, "--ca-file", w.sites["ca_file"])(w),
    ),
    Case(
        "a site certificate for another host name",
        5,
        "is for lms.example.com, not for 127.0.0.1",
        lambda w: login("renamed", "alice", ALICE_PASSWORD, "--ca-file", w.sites["ca_file"])(w),
    ),
    Case(
        "a proxy URL that does not parse",
        2,
        "bad proxy URL",
        login("site", "alice", ALICE_PASSWORD, "--proxy", "http://[::1"),
    ),
    Case(
        "a proxy URL with credentials (masked)",
        5,
        "the proxy http://me:***@127.0.0.1",
        lambda w: login(
            "site", "alice", ALICE_PASSWORD, "--proxy", f"http://me:s3cret@127.0.0.1:{free_port()}"
        )(w),
    ),
    Case(
        "a site slower than --timeout",
        5,
        "did not answer within 1 s",
        login("slow", "alice", ALICE_PASSWORD, "--timeout", "1"),
    ),
    Case("maintenance (503)", 5, "retry after 300 s", login("down", "alice", ALICE_PASSWORD)),
    Case(
        "a login that sets no session cookie",
        7,
        "set no TotaraSession* cookie",
        login("no-cookie", "alice", "pw"),
    ),
    Case(
        "a landing page without a sesskey",
        7,
        "carries no M.cfg.sesskey",
        login("no-sesskey", "alice", "pw"),
    ),
    Case(
        "a required-action page (forced password change)",
        7,
        "password change",
        login("held", "alice", ALICE_PASSWORD),
    ),
    Case(
        "malformed --variables",
        2,
        "--variables is not valid JSON",
        cli(
            "request",
            "totara_webapi_status",
            "-u",
            "alice",
            "--site",
            "{site}",
            "--variables",
            "{{nope",
        ),
    ),
    Case(
        "--variables that is not an object",
        2,
        "must be a JSON object",
        cli(
            "request",
            "totara_webapi_status",
            "-u",
            "alice",
            "--site",
            "{site}",
            "--variables",
            "[1]",
        ),
    ),
    Case(
        "--variables @file that does not exist",
        2,
        "cannot read --variables file",
        cli(
            "request",
            "totara_webapi_status",
            "-u",
            "alice",
            "--site",
            "{site}",
            "--variables",
            "@/nonexistent/vars.json",
        ),
    ),
    Case(
        "an unknown operation",
        8,
        "Internal server error",
        cli("request", "no_such_operation", "--no-check", "-u", "alice", "--site", "{site}"),
    ),
    Case(
        "an unknown site alias",
        2,
        "unknown site alias 'intranet'",
        cli("env", "-u", "alice", "--site", "intranet"),
    ),
    Case(
        "a config file with a syntax error",
        2,
        "line 2, column",
        with_config('[sites.lms]\nurl = "http://x\n', "env", "-u", "alice", "--site", "lms"),
    ),
    Case("a site URL that is not http(s)", 2, "not a site URL", login("ftp://example.com")),
    Case(
        "no stored session",
        4,
        "no stored session for bob",
        cli("env", "-u", "bob", "--site", "{site}"),
    ),
    Case(
        "a corrupted keyring entry (not JSON)",
        4,
        "not valid JSON",
        with_entry("mallory", "{not json"),
    ),
    Case("a keyring entry of another version", 4, "version", with_entry("mallory", GOOD_ENTRY_BUT)),
    Case(
        "a keyring with no backend",
        6,
        "no usable OS keyring",
        cli(
            "env",
            "-u",
            "alice",
            "--site",
            "{site}",
            DBUS_SESSION_BUS_ADDRESS="unix:path=/nonexistent/bus",
        ),
    ),
    Case("a locked keyring", 6, "locked", in_spare_keyring("locked")),
    Case(
        "a keyring that hangs (daemon stopped)",
        6,
        "did not answer within 2 s",
        in_spare_keyring("stopped", HARVEST_KEYRING_TIMEOUT="2"),
    ),
    Case(
        "an unknown --format",
        2,
        "unknown format 'csh'",
        cli("env", "-u", "alice", "--site", "{site}", "--format", "csh"),
    ),
    Case(
        "a nested harvest exec",
        2,
        "already inside harvest exec",
        cli("exec", "-u", "alice", "--site", "{site}", "--", "true", HARVEST_EXEC="1"),
    ),
    Case(
        "harvest exec of a missing command",
        127,
        "not found",
        cli("exec", "-u", "alice", "--site", "{site}", "--", "/nonexistent/tool"),
    ),
    Case("a bad --every duration", 2, "duration", cli("refresh", "--all", "--every", "soon")),
    Case("an unknown option", 2, "No such option", cli("status", "--colour")),
    # -- added by issue 11: deployments and sites that answer badly --------------------------
    Case(
        "a proxy's 502 from ajax.php",
        5,
        "answered HTTP 502 (Bad Gateway)",
        with_faults(cli(*REQUEST), ajax_status=502, ajax_body="<h1>502 Bad Gateway</h1>"),
    ),
    Case(
        "a PHP error page (HTML 500) from ajax.php",
        5,
        "answered HTTP 500",
        with_faults(cli(*REQUEST), ajax_status=500, ajax_body="<b>Fatal error</b>"),
    ),
    Case(
        "JSON of an unexpected shape from ajax.php",
        5,
        "unexpected shape",
        with_faults(
            cli(*REQUEST),
            ajax_status=200,
            ajax_body='{"errors":5}',
            ajax_content_type="application/json",
        ),
    ),
    Case(
        "an answer that dribbles past --timeout",
        5,
        "did not finish answering within 2 s",
        with_faults(cli(*REQUEST, "--timeout", "2"), drip=0.5),
    ),
    Case(
        "a compression bomb from ajax.php",
        5,
        "more than 16 MiB",
        with_faults(cli(*REQUEST), bomb_mib=256),
    ),
    Case(
        "logout while a proxy answers 502",
        5,
        "kept it here",
        with_faults(
            cli("logout", "-u", "alice", "--site", "{site}"), ajax_status=502, ajax_body="x"
        ),
    ),
    Case(
        "a login form that posts to another origin",
        7,
        "another origin (http://127.0.0.1:9)",
        login("foreign", "alice", ALICE_PASSWORD),
    ),
    Case(
        "a site URL whose port is not a number",
        2,
        "port is not a number",
        login("http://127.0.0.1:99999"),
    ),
    Case(
        "a site URL with credentials (any scheme)",
        2,
        "must not carry credentials",
        login("ftp://bob:s3cret@example.com"),
    ),
    # -- added by issue 12: ordinary mistakes and accidents, none of them "unexpected" --------
    Case("--timeout nan", 2, "--timeout", cli(*REQUEST, "--timeout", "nan")),
    Case("--timeout inf", 2, "--timeout", cli(*REQUEST, "--timeout", "inf")),
    Case(
        "HARVEST_KEYRING_TIMEOUT=nan",
        2,
        "HARVEST_KEYRING_TIMEOUT",
        cli("env", "-u", "alice", "--site", "{site}", HARVEST_KEYRING_TIMEOUT="nan"),
    ),
    Case(
        "HARVEST_KEYRING_TIMEOUT=inf",
        2,
        "HARVEST_KEYRING_TIMEOUT",
        cli("env", "-u", "alice", "--site", "{site}", HARVEST_KEYRING_TIMEOUT="inf"),
    ),
    Case(
        "--every 999999999999d",
        2,
        "longer than the most, 30d",
        cli("refresh", "--all", "--every", "999999999999d"),
    ),
    Case("--every 1ms", 2, "too often: at least 10s", cli("refresh", "--all", "--every", "1ms")),
    Case(
        "a malformed IPv6 literal",
        2,
        "not a site URL",
        cli("env", "-u", "alice", "--site", "http://[::1"),
    ),
    Case(
        "a config url whose port is out of range",
        2,
        "port is not a number",
        with_config('[sites.lms]\nurl = "http://x:99999"\n', "env", "-u", "alice", "--site", "lms"),
    ),
    Case(
        "--user that is not UTF-8",
        2,
        "not valid UTF-8",
        cli("env", "-u", "al\udcffice", "--site", "{site}"),
    ),
    Case(
        "--variables @file that is not UTF-8",
        2,
        "not UTF-8 text",
        with_file("vars.json", b'{"a": "\xff"}', *REQUEST, "--variables", "@{file}"),
    ),
    Case(
        "a config file that is not UTF-8",
        2,
        "not UTF-8 text",
        with_config(b'[sites.lms]\nurl = "http://\xff"\n', "env", "-u", "alice", "--site", "lms"),
    ),
    Case(
        "standard output closed (harvest env >&-)",
        2,
        "standard output is closed",
        closed_stdout("env", "-u", "alice", "--site", "{site}"),
    ),
    Case(
        "a landing page whose sesskey is not ASCII",
        7,
        "not plain ASCII",
        login("odd-sesskey", "alice", ALICE_PASSWORD),
    ),
    Case(
        "an index with an extra key in a row",
        0,
        "was damaged (1 bad rows)",
        with_index(
            b'{"v":1,"sessions":[{"wwwroot":"http://x","user":"u","cookie_name":"C",'
            b'"obtained_at":1,"verified_at":null,"surprise":true},{"user":5}]}',
            "status",
        ),
    ),
    Case(
        "an index row of the wrong type (env without --site)",
        0,
        "1 bad rows",
        with_index(with_bad_row, "env", "-u", "alice"),
    ),
    Case(
        "an index that is not a list",
        0,
        "no list of sessions",
        with_index(b'{"v":1,"sessions":7}', "status"),
    ),
    Case("an index that is not JSON", 0, "not JSON", with_index(b"{half", "refresh", "--all")),
    Case(
        "a folder in the index's place",
        0,
        "cannot read it (is a directory)",
        with_index(None, "status", "--json"),
    ),
    Case(
        "a state folder that is a file (login)",
        9,
        "is a file, not a folder",
        lambda world: world.harvest.login(world.site.url, XDG_STATE_HOME=state_file(world)),
    ),
    Case(
        "XDG_STATE_HOME that is a file (env)",
        9,
        "a-file is a file, not a folder",
        lambda world: world.harvest(*env_of(world), XDG_STATE_HOME=state_file(world)),
    ),
    Case(
        "harvester's state folder that is a file (env)",
        9,
        "harvester is a file, not a folder",
        lambda world: world.harvest(*env_of(world), XDG_STATE_HOME=state_file(world, inside=True)),
    ),
    Case(
        "a config folder that is a file (env)",
        9,
        "a-file is a file, not a folder",
        lambda world: world.harvest(
            *env_of(world), HARVEST_CONFIG=f"{state_file(world)}/config.toml"
        ),
    ),
    Case(
        "XDG_CONFIG_HOME whose harvester folder is a file (site add)",
        9,
        "harvester is a file, not a folder",
        lambda world: world.harvest(
            "site",
            "add",
            "x",
            "--url",
            "http://h",
            HARVEST_CONFIG="",
            XDG_CONFIG_HOME=state_file(world, inside=True),
        ),
    ),
    Case(
        "exec with options after the command's name",
        0,
        "",
        cli("exec", "-u", "alice", "--site", "{site}", "sh", "-c", "exit 0", "-u", "admin:s3cret"),
    ),
    Case(
        "a sesskey like ${AWS_SECRET_ACCESS_KEY} in dotenv",
        0,
        "docker --env-file cannot carry",
        with_entry(
            "mallory",
            '{"v": 1, "cookie_name": "TotaraSessionm", "cookie_value": "x", '
            '"sesskey": "${AWS_SECRET_ACCESS_KEY}", "wwwroot": "w", "obtained_at": 1}',
            "--format",
            "dotenv",
        ),
    ),
    Case(
        "schedule every 35m with cron",
        2,
        "the nearest it can keep: 32m and 36m",
        cli("schedule", "show", "--backend", "cron", "--every", "35m"),
    ),
    Case(
        "schedule every 10s",
        2,
        "too often: at least 60s",
        cli("schedule", "show", "--backend", "systemd", "--every", "10s"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(world: World, case: Case) -> None:
    started = time.monotonic()
    result = case.run(world)
    elapsed = time.monotonic() - started
    assert result.code == case.code, result.err
    if case.code == 0 and not case.says:  # nothing to say
        assert result.err == "", result.err
    else:  # one line: an error, or (exit 0) a warning
        prefix = "harvest: error: " if case.code else "harvest: warning: "
        assert result.err.startswith(prefix) and result.err.count("\n") == 1, result.err
        assert case.says.lower() in result.err.lower(), result.err
        assert "error: unexpected" not in result.err
    assert ALICE_PASSWORD not in result.err + result.out and "s3cret" not in result.err
    world.still_works()
    assert not list(world.harvest.tmpdir.iterdir()), "a browser profile was left behind"
    if case.id.startswith("a keyring that hangs"):
        # gave up at the timeout, not the 30 s default (a bound on hanging, not a speed test)
        assert 2 <= elapsed < 25, elapsed


def test_the_docs_list_every_case() -> None:
    matrix = (Path(__file__).parent.parent / "docs" / "errors.md").read_text()
    missing = [c.id for c in CASES if f"| {c.id} |" not in matrix]
    assert not missing, missing


# -- the rule by construction: random input to every command's options -----------------------
# NUL cannot be in a real argument; lone surrogates stand for bytes that are not UTF-8.
ANY_TEXT = st.text(st.characters(blacklist_characters="\0"), max_size=30)
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    ANY_TEXT,
)
PASSWORDS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"))
OTHER_USER = ANY_TEXT.map(lambda text: "zz" + text)  # never alice, whose session must stay


def site_values(world: World) -> st.SearchStrategy[str]:
    return st.one_of(st.just(world.site.url), ANY_TEXT, st.just("ftp://u:p@h"))


def command_lines(world: World) -> st.SearchStrategy[list[str]]:
    site = site_values(world)
    return st.one_of(
        st.tuples(st.just("env"), ANY_TEXT, site, ANY_TEXT).map(
            lambda t: [t[0], "--user", t[1], "--site", t[2], "--format", t[3]]
        ),
        st.tuples(ANY_TEXT, ANY_TEXT, site, ANY_TEXT, NUMBERS).map(
            lambda t: [
                "request",
                t[0] or "x",
                "-u",
                t[1],
                "--site",
                t[2],
                "--variables",
                t[3],
                "--timeout",
                t[4],
            ]
        ),
        st.tuples(OTHER_USER, site, NUMBERS, st.booleans()).map(
            lambda t: (
                ["status", "-u", t[0], "--site", t[1], "--timeout", t[2]]
                + (["--check"] if t[3] else [])
            )
        ),
        st.tuples(OTHER_USER, site, NUMBERS, NUMBERS).map(
            lambda t: [
                "refresh",
                "-u",
                t[0],
                "--site",
                t[1],
                "--concurrency",
                t[2],
                "--timeout",
                t[3],
            ]
        ),
        st.tuples(OTHER_USER, site, NUMBERS).map(
            lambda t: ["logout", "-u", t[0], "--site", t[1], "--timeout", t[2]]
        ),
        st.tuples(ANY_TEXT.filter(lambda a: a != "install"), ANY_TEXT, ANY_TEXT).map(
            lambda t: ["schedule", t[0] or "show", "--every", t[1], "--backend", t[2]]
        ),
        st.tuples(ANY_TEXT, ANY_TEXT, ANY_TEXT).map(
            lambda t: ["site", "add", t[0] or "a", "--url", t[1], "--step", t[2]]
        ),
        st.tuples(ANY_TEXT).map(lambda t: ["site", "remove", t[0] or "a"]),
        st.tuples(OTHER_USER, site, NUMBERS, NUMBERS).map(
            lambda t: [
                "login",
                "-u",
                t[0],
                "--site",
                t[1],
                "--password-stdin",
                "--timeout",
                t[2],
                "--wait",
                t[3],
            ]
        ),
        st.lists(ANY_TEXT, max_size=4),  # anything at all
    )


def test_random_options_to_every_command_follow_the_rules(world: World) -> None:
    """Exit code in the documented set, one error line last (warnings only before it, or alone
    on success), never
    'unexpected', and alice's stored session intact. In-process, so that hundreds of cases
    cost seconds; the same code path as the executable (harvester.cli.run)."""
    from typer.testing import CliRunner

    from harvester.cli import run

    documented = {0, 2, 3, 4, 5, 7, 8, 9}
    env = {k: world.harvest.env[k] for k in ("XDG_STATE_HOME", "HARVEST_CONFIG", "TMPDIR")}

    # The suite runs the same 200 cases every time (a CI run must not fail on a case no one saw
    # before); HARVEST_PROPERTY_EXAMPLES=2000 explores new ones at random.
    explore = os.environ.get("HARVEST_PROPERTY_EXAMPLES")
    examples = int(explore or "200")

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=not explore,
    )
    @given(args=command_lines(world), password=PASSWORDS)
    def check(args: list[str], password: str) -> None:
        with CliRunner().isolation(input=password + "\n", env=env) as (_out, err, *_):
            code = run(args, handle_signals=False)
            sys.stderr.flush()
            lines = err.getvalue().decode("utf-8", "replace").splitlines()
        assert code in documented, (args, lines)
        assert not any("error: unexpected" in line for line in lines), (args, lines)
        if code:  # one error line; warnings may come before it (an operation no catalogue knows)
            errors = [line for line in lines if line.startswith("harvest: error: ")]
            assert len(errors) == 1 and lines[-1] == errors[0], (args, lines)
            assert all(line.startswith("harvest: warning: ") for line in lines[:-1]), (args, lines)
        else:
            assert all(line.startswith("harvest: warning: ") for line in lines), (args, lines)

    try:
        check()
    finally:
        world.config.unlink(missing_ok=True)
    world.still_works()
