"""The session value and where it is kept: `Session` (session.py), the OS keyring with a
deadline on every call (keyring_access.py), a non-secret index (index.py), and `SessionStore`
over both (sessions.py). Imports only the foundation (errors, redact, inputs) and `site/`.
"""
