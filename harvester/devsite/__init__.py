"""A small, faithful Totara-compatible site: the parts harvester touches (docs/totara-protocol.md).

Run it with `python -m harvester.devsite`, use `DevSite` from Python, or the pytest fixture
`totara_site` (installed as a pytest plugin with harvester).
"""

from .server import DevSite

__all__ = ["DevSite"]
