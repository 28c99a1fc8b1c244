"""Giving the session to programs: variables and exec (export.py), cookie files
(cookie_files.py), auth objects that attach and renew (auth.py, requests_auth.py), the client
and `harvest request` (client.py, request.py), a logged-in window (open_window.py).
Imports every stage below it, up to `upkeep/`.
"""
