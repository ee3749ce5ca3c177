"""Making gymnasium envs by id, single or vectorised."""

from typing import Any

import gymnasium as gym
import numpy as np

from envs.crop import CropImage
from envs.errors import EnvError
from envs.rendering import prepare_rendering
from envs.replayable import ReplayableEnv
from envs.suites import register_suite


class ActionRepeat(gym.Wrapper):
    """Each action is applied `repeat` times (fewer if the episode ends); rewards are summed.
    With `max_pool`, the observation is the pixel-wise max of the last two frames (Atari
    draws some sprites only every other frame)."""

    def __init__(self, env: gym.Env, repeat: int, max_pool: bool = False):
        super().__init__(env)
        self.repeat, self.max_pool = repeat, max_pool

    def step(self, action):
        total, last_two = 0.0, []
        for _ in range(self.repeat):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            last_two = [*last_two[-1:], obs]
            if terminated or truncated:
                break
        if self.max_pool and len(last_two) == 2:
            obs = np.maximum(*last_two)
        return obs, total, terminated, truncated, info


def gym_make(env_id: str, kwargs: dict[str, Any] | None, extra: dict[str, Any]) -> gym.Env:
    """gym.make, with an error that names what to fix: the id, its module, or a keyword."""
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
    except (TypeError, ValueError) as err:
        # A keyword the env does not take, or a value it refuses; other failures of the
        # env's own code keep their traceback.
        unknown = isinstance(err, TypeError) and "unexpected keyword" in str(err)
        if not kwargs or not (unknown or isinstance(err, ValueError)):
            raise
        raise EnvError(f"env.id={env_id!r} cannot be made with env.kwargs={dict(kwargs)}: "
                       f"{err}") from err


def make_env(env_id: str, kwargs: dict[str, Any] | None = None, action_repeat: int = 1,
             time_limit: int = 0, pixels: bool = False, max_pool: bool = False,
             crop: list[float] | None = None, **extra: Any) -> gym.Env:
    """gym.make with a clear error; `module:Name-vN` ids import `module` first.
    `time_limit` > 0 replaces the env's own limit (in env steps, before action repeat);
    `pixels` replaces the observations by the env's rgb_array renders; `crop` keeps a
    window of the image observations (envs.crop)."""
    if time_limit > 0:
        extra["max_episode_steps"] = time_limit
    if pixels:
        extra["render_mode"] = "rgb_array"
    if extra.get("render_mode"):
        prepare_rendering(env_id)  # before the suite's package is imported
    register_suite(env_id)
    env = gym_make(env_id, kwargs, extra)
    # Render once per agent step, after its repeated frames; max-pooling needs every frame.
    if pixels and max_pool:
        env = gym.wrappers.AddRenderObservation(env, render_only=True)
    if action_repeat > 1:
        env = ActionRepeat(env, action_repeat, max_pool)
    if pixels and not max_pool:
        env = gym.wrappers.AddRenderObservation(env, render_only=True)
    if crop is not None:
        env = CropImage(env, crop)
    return env


def make_vector_env(env_id: str, num_envs: int, kwargs: dict[str, Any] | None = None,
                    vector: str = "sync", **wrappers: Any) -> gym.vector.VectorEnv:
    """`num_envs` copies stepped together (`wrappers`: make_env's action_repeat,
    time_limit, pixels, max_pool and crop). Autoreset is next-step: the step after a done
    returns the reset observation, which matches replay's `is_first` layout. Each copy is a
    ReplayableEnv, so a checkpoint can rebuild its exact state."""
    make_one = [lambda: ReplayableEnv(make_env(env_id, kwargs, **wrappers))
                for _ in range(num_envs)]
    mode = gym.vector.AutoresetMode.NEXT_STEP
    if vector == "async":
        return gym.vector.AsyncVectorEnv(make_one, autoreset_mode=mode)
    if vector == "sync":
        return gym.vector.SyncVectorEnv(make_one, autoreset_mode=mode)
    raise EnvError(f"env.vector={vector!r} is not known; use sync or async")


def set_pending_resets(envs: gym.vector.VectorEnv, pending: np.ndarray) -> None:
    """Make the next step of a next-step-autoreset vector env reset the envs where `pending`
    is set (their episode ended on the step before), as it would have after that step. Used
    when a run resumes with freshly made envs. gymnasium keeps this in a private attribute;
    tests/test_env_wrappers.py fails if that changes."""
    if not hasattr(envs, "_autoreset_envs"):
        raise RuntimeError(f"{type(envs).__name__} of gymnasium {gym.__version__} keeps no "
                           f"_autoreset_envs: resuming cannot restore its pending resets")
    envs._autoreset_envs = np.asarray(pending, dtype=bool).copy()
