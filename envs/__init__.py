"""Gymnasium environments for the agent: making them, and what their spaces look like to it."""

from envs.make import EnvError, make_env, make_vector_env
from envs.spaces import ActionCodec, SpaceError, observation_size

__all__ = ["ActionCodec", "EnvError", "SpaceError", "make_env", "make_vector_env",
           "observation_size"]
