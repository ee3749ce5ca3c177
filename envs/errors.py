"""Errors about envs that stop a run at start-up with a message naming the fix."""


class EnvError(ValueError):
    """The env cannot be made; the message names the id and the fix."""
