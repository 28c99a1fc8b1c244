"""pytest plugin (entry point `pytest11`): a logged-in client for your own site, and a running
bundled Totara site for your own tests.

    def test_my_dashboard(totara_session):
        # a TotaraClient with the session `harvest login` stored (renewed when it has ended)
        assert totara_session.call("totara_webapi_status")["totara_webapi_status"]["status"] == "ok"

    pytest --totara-user alice --totara-site https://lms.example.com    (or HARVEST_USER and
    HARVEST_SITE); without a user or a usable session the test is skipped, saying why.

    def test_my_script(totara_site):
        # totara_site.url is e.g. http://127.0.0.1:41234; alice logs in with "alice-password"
        ...

    def test_short_sessions(make_totara_site):
        site = make_totara_site(session_timeout=3, users={"bob": "pw"}, cookie_suffix="abc")

Sites are stopped when the test ends. `site.access_log` lists the requests it served;
`site.state.expire_sessions("alice")` and `site.state.kill_sessions()` end sessions on the server.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .server import DevSite

if TYPE_CHECKING:
    from ..handoff.client import TotaraClient


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harvester", "harvester: a Totara session for your tests")
    group.addoption(
        "--totara-site",
        default="",
        help="site (URL or alias) of the totara_session fixture; default $HARVEST_SITE",
    )
    group.addoption(
        "--totara-user",
        default="",
        help="user of the totara_session fixture (after harvest login); default $HARVEST_USER",
    )


@pytest.fixture
def totara_session(request: pytest.FixtureRequest) -> Iterator[TotaraClient]:
    """A TotaraClient logged in as --totara-user (or HARVEST_USER) at --totara-site (or
    HARVEST_SITE; else the site where that user has a session), from the keyring, renewed with
    the saved password when the site has ended it. Skips the test, with the reason on one
    line, when no user is named or no session is stored for them; any other trouble (a keyring
    that is down, a site in trouble, a session that ended and cannot be renewed) fails it
    loudly: a suite must not go quietly green on a broken setup."""
    from ..errors import HarvestError, NoSession, UsageError, first_line
    from ..handoff.client import TotaraClient

    site = str(request.config.getoption("--totara-site")) or os.environ.get("HARVEST_SITE", "")
    user = str(request.config.getoption("--totara-user")) or os.environ.get("HARVEST_USER", "")
    if not user:
        pytest.skip("totara_session: no user: pass --totara-user NAME or set HARVEST_USER")
    try:
        client = TotaraClient.from_keyring(site, user, renew=True)
    except (NoSession, UsageError) as exc:  # nothing stored for this user, no site: not set up
        pytest.skip(f"totara_session: {first_line(exc)}")
    except HarvestError as exc:
        pytest.fail(f"totara_session: {first_line(exc)}", pytrace=False)
    with client:
        try:
            client.call("totara_webapi_status")  # renews an ended session before the test
        except HarvestError as exc:
            pytest.fail(f"totara_session: {first_line(exc)}", pytrace=False)
        yield client


@pytest.fixture
def make_totara_site() -> Iterator[Callable[..., DevSite]]:
    """A factory: call it with DevSite's options; every site it made stops after the test."""
    started: list[DevSite] = []

    def make(users: dict[str, str] | None = None, **options: Any) -> DevSite:
        site = DevSite(users, **options).start()
        started.append(site)
        return site

    yield make
    for site in started:
        site.stop()


@pytest.fixture
def totara_site(make_totara_site: Callable[..., DevSite]) -> DevSite:
    """A bundled Totara site on a free loopback port, with alice (password `alice-password`)."""
    return make_totara_site()
