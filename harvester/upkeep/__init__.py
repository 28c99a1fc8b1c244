"""Keeping sessions alive and ending them: status.py looks, refresh.py renews (many users, one
browser), schedule.py runs refresh periodically, logout.py ends; durations.py parses `15m`.
Imports everything below it: the foundation, `site/`, `store/`, `settings/`, `logins/`.
"""
