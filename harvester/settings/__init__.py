"""Which site and which user: the config file (config.py reads it, config_file.py edits it)
and --site/--user resolved to a target (targets.py). Imports the foundation, `site/` and
`store/`.
"""
