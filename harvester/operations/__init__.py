"""Totara's operations as data: the catalogue made from a Totara source tree (catalogue.py,
data/), and the checks a request passes before anything is sent (checks.py). Loaded only by the
commands that use it. Imports only the foundation and `site/`.
"""
