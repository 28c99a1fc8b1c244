"""`harvest proxy`: a loopback endpoint (or a 0600 Unix socket) that forwards a GraphQL tool's
ajax.php requests to the site with the stored session attached and renewed, so the tool never
holds the cookie or the sesskey. gate.py decides who gets in; server.py serves and forwards.
Imports every stage up to `handoff/` (TotaraAuth attaches and renews).
"""
