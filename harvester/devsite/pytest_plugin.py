"""pytest plugin (entry point `pytest11`): a running bundled Totara site for your own tests.

    def test_my_script(totara_site):
        # totara_site.url is e.g. http://127.0.0.1:41234; alice logs in with "alice-password"
        ...

    def test_short_sessions(make_totara_site):
        site = make_totara_site(session_timeout=3, users={"bob": "pw"}, cookie_suffix="abc")

Sites are stopped when the test ends. `site.access_log` lists the requests it served;
`site.state.expire_sessions("alice")` and `site.state.kill_sessions()` end sessions on the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .server import DevSite


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
