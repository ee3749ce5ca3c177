"""Errors every part may raise (a leaf module: it imports nothing of the project)."""


class ConfigError(ValueError):
    """A bad config value; the message names the key and what it must be."""
