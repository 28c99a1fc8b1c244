"""Talking to a Totara site: its address (wwwroot.py), the one home of HTTP rules (deadlines,
size bounds, redirects: http.py), ajax.php's answers (ajax.py) and what a page says about
its user (login_state.py). Imports only the foundation (errors, redact, inputs).
"""
