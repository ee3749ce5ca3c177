"""An env wrapper that can rebuild its exact state: it remembers how the current episode
began (the seed, or the RNG state the reset drew from) and the actions taken since.

Restoring resets the same way and replays the actions, which reproduces the state of any env
whose reset draws from `np_random` and whose steps are deterministic given the actions
(gymnasium's classic-control, box2d and MuJoCo tasks; DeepMind Control through shimmy, whose
`np_random` is the task's legacy RandomState). MinAtar and Atari keep random state of their
own (sticky actions), so theirs is rebuilt only approximately (a resume says so).
Nothing is pickled.
"""

import copy
from typing import Any

import gymnasium as gym
import numpy as np


def rng_state(rng: np.random.Generator | np.random.RandomState) -> dict:
    """The generator's state as plain data (lists, not arrays: checkpoints load weights-only)."""
    if isinstance(rng, np.random.RandomState):
        state = rng.get_state(legacy=False)
        state["state"]["key"] = state["state"]["key"].tolist()
        return state
    return copy.deepcopy(rng.bit_generator.state)


def set_rng_state(rng: np.random.Generator | np.random.RandomState, state: dict) -> None:
    if isinstance(rng, np.random.RandomState):
        rng.set_state(state)
    else:
        rng.bit_generator.state = state


class ReplayableEnv(gym.Wrapper):
    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.episode: dict[str, Any] = {"seed": -1, "rng": None, "actions": []}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        rng = None if seed is not None else rng_state(self.env.unwrapped.np_random)
        self.episode = {"seed": -1 if seed is None else int(seed), "rng": rng, "actions": []}
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        self.episode["actions"].append(np.asarray(action).tolist())
        return self.env.step(action)

    def snapshot(self) -> dict[str, Any]:
        """Plain data (ints, lists, dicts): safe to store in a weights-only checkpoint."""
        return copy.deepcopy(self.episode)

    def restore(self, snapshot: dict[str, Any]):
        """Rebuild the state the snapshot was taken in; returns the last observation."""
        if snapshot["seed"] >= 0:
            obs, _ = self.reset(seed=snapshot["seed"])
        else:
            set_rng_state(self.env.unwrapped.np_random, snapshot["rng"])
            obs, _ = self.reset()
        for action in snapshot["actions"]:
            obs, *_ = self.step(np.asarray(action))
        return obs
