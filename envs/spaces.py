"""What the agent supports of gymnasium's spaces, and how actions are encoded for it."""

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

SUPPORTED_ACTIONS = "Discrete, MultiDiscrete (1-D) or Box (1-D, finite bounds)"


class SpaceError(ValueError):
    """A space the agent cannot handle; the message names it and what is supported."""


class ActionCodec:
    """Env actions <-> the float vectors the world model, the actor and replay use:
    Discrete -> one-hot; MultiDiscrete -> one one-hot per dimension, concatenated
    (`segments` holds their sizes); Box -> each dimension scaled to [-1, 1]."""

    def __init__(self, space: gym.Space):
        self.space = space
        if isinstance(space, gym.spaces.Discrete):
            self.segments, self.start = [int(space.n)], np.array([space.start])
        elif isinstance(space, gym.spaces.MultiDiscrete) and space.nvec.ndim == 1:
            self.segments, self.start = [int(n) for n in space.nvec], space.start
        elif (isinstance(space, gym.spaces.Box) and len(space.shape) == 1
              and space.is_bounded("both")):
            self.segments = None
            self.low, self.high = space.low.astype(np.float64), space.high.astype(np.float64)
        else:
            raise SpaceError(f"action space {space} is not supported; supported: "
                             f"{SUPPORTED_ACTIONS}")
        self.continuous = self.segments is None
        self.size = int(space.shape[0]) if self.continuous else sum(self.segments)

    def to_env(self, encoded: Tensor) -> np.ndarray:
        """[N, size] encoded -> N env actions."""
        x = encoded.detach().cpu().double().numpy()
        if self.continuous:
            scaled = self.low + (np.clip(x, -1, 1) + 1) / 2 * (self.high - self.low)
            return scaled.astype(self.space.dtype)
        parts = np.split(x, np.cumsum(self.segments)[:-1], axis=-1)
        index = np.stack([p.argmax(-1) for p in parts], -1) + self.start
        if isinstance(self.space, gym.spaces.Discrete):
            return index[:, 0].astype(np.int64)
        return index.astype(self.space.dtype)

    def random(self, num: int, rng: np.random.Generator) -> Tensor:
        """Uniform random actions, encoded."""
        if self.continuous:
            return torch.from_numpy(rng.uniform(-1, 1, (num, self.size))).float()
        return torch.cat([torch.nn.functional.one_hot(
            torch.from_numpy(rng.integers(n, size=num)), n).float() for n in self.segments], -1)
