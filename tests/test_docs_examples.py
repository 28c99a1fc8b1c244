"""The documented examples that can run against the bundled site do run (slow tier): login,
env with curl, operations, request, harvest curl and logout, each line taken from the page
that shows it (so a page that changes its example changes what runs here), with the example
site's address replaced by the bundled site's."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from harvester.devsite import DevSite

from .conftest import ALICE_PASSWORD, HARVEST, HarvestRunner
from .test_docs import ROOT, command_lines

EXAMPLE_SITE = "https://lms.example.com"


def documented(page: str, start: str) -> str:
    """The shell line of *page* (continuations joined) that starts with *start*."""
    for _number, line in command_lines(ROOT / page):
        if line.startswith(start):
            return line.split("  # ", 1)[0].strip()
    raise AssertionError(f"{page} no longer shows a line starting with {start!r}")


def test_the_documented_examples_run_against_the_bundled_site(
    site: DevSite, harvest: HarvestRunner
) -> None:
    steps = [
        documented("docs/logging-in.md", "printf '%s\\n' \"$PW\" | harvest login --user alice"),
        documented("README.md", 'eval "$(harvest env --user alice --site'),
        documented("README.md", 'curl -s -H "Cookie: $TOTARA_COOKIE"'),
        "echo",
        documented("README.md", "harvest operations job"),
        documented("README.md", "harvest request totara_job_my_assignments --user alice"),
        documented("docs/calling-the-api.md", 'eval "$(harvest env --user alice)"'),
        documented("docs/calling-the-api.md", "harvest curl totara_webapi_status --user alice"),
        "echo",
        documented("docs/keeping-fresh.md", "harvest logout --user alice --site"),
    ]
    script = "set -euo pipefail\n" + "\n".join(steps).replace(EXAMPLE_SITE, site.url) + "\n"
    env = {
        **harvest.env,
        "PW": ALICE_PASSWORD,
        "PATH": f"{Path(HARVEST).parent}{os.pathsep}{os.environ['PATH']}",
    }
    ran = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert ran.returncode == 0, (script, ran.stdout, ran.stderr)
    out = ran.stdout
    assert f"Logged in alice at {site.url}" in out
    assert out.count('"status":"ok"') + out.count('"status": "ok"') >= 2, out  # curl, twice
    assert "totara_job_my_assignments" in out  # operations job lists it
    assert '"idnumber": "alice"' in out or '"idnumber":"alice"' in out, out
    assert f"Logged alice out of {site.url}" in out or "logged alice out" in out.lower(), out
