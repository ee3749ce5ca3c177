"""Gymnasium environments for the agent: making them, and what their spaces look like to it."""

import envs.memory  # noqa: F401  (registers CueRecall-v0)
import envs.seen_position  # noqa: F401  (registers SeenPosition-v0)
from envs.make import EnvError, make_env, make_vector_env, set_pending_resets
from envs.observations import ObservationSpec
from envs.spaces import ActionCodec, SpaceError

__all__ = ["ActionCodec", "EnvError", "ObservationSpec", "SpaceError", "make_env",
           "make_vector_env", "set_pending_resets"]
