"""harvester's version, in the foundation stage: the agent and its callers compare it."""

__version__ = "0.1.0"
