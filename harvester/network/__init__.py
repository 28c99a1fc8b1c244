"""How harvester reaches a site: the CAs it trusts (trust.py), the proxy between (proxies.py),
the client certificate it shows, and the one Network value that carries them to the HTTP client,
the browser and the probe (reach.py, browser_trust.py, probe.py). docs/networks.md says why
each works the way it does.

This stage sits below site/: it knows origins as (scheme, host, port), not Wwwroots.
"""
