"""Getting a session: the login flow (flow.py) drives a browser (`browser/`) and proves the
captured pair outside it (verify.py). Imports the foundation, `site/`, `store/` and `settings/`.
"""
