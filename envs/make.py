"""Making gymnasium envs by id, single or vectorised."""

from typing import Any

import gymnasium as gym

from envs.replayable import ReplayableEnv


class EnvError(ValueError):
    """The env cannot be made; the message names the id and the fix."""


def make_env(env_id: str, kwargs: dict[str, Any] | None = None, **extra: Any) -> gym.Env:
    """gym.make with a clear error; `module:Name-vN` ids import `module` first."""
    try:
        return gym.make(env_id, **dict(kwargs or {}), **extra)
    except gym.error.Error as err:
        raise EnvError(f"env.id={env_id!r} cannot be made ({err}); pass a registered "
                       f"gymnasium id, or `module:Name-vN` for envs that register on import"
                       ) from None
    except ModuleNotFoundError:
        module = env_id.split(":")[0]
        raise EnvError(f"env.id={env_id!r}: module {module!r} cannot be imported; install it "
                       f"or fix the module part of the id") from None


def make_vector_env(env_id: str, num_envs: int, kwargs: dict[str, Any] | None = None,
                    vector: str = "sync") -> gym.vector.VectorEnv:
    """`num_envs` copies stepped together. Autoreset is next-step: the step after a done
    returns the reset observation, which matches replay's `is_first` layout. Each copy is a
    ReplayableEnv, so a checkpoint can rebuild its exact state."""
    make_one = [lambda: ReplayableEnv(make_env(env_id, kwargs)) for _ in range(num_envs)]
    mode = gym.vector.AutoresetMode.NEXT_STEP
    if vector == "async":
        return gym.vector.AsyncVectorEnv(make_one, autoreset_mode=mode)
    if vector == "sync":
        return gym.vector.SyncVectorEnv(make_one, autoreset_mode=mode)
    raise EnvError(f"env.vector={vector!r} is not known; use sync or async")
