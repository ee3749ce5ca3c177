"""What the agent supports of gymnasium's spaces, and how actions are encoded for it."""

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor


class SpaceError(ValueError):
    """A space the agent cannot handle; the message names it and what is supported."""


def observation_size(space: gym.Space) -> int:
    """Flat size of a vector observation space."""
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return int(space.shape[0])
    raise SpaceError(f"observation space {space} is not supported; supported: a 1-D Box "
                     f"(vector observations)")


class ActionCodec:
    """Env actions <-> the float vectors the world model and replay use (one-hot)."""

    def __init__(self, space: gym.Space):
        if not isinstance(space, gym.spaces.Discrete):
            raise SpaceError(f"action space {space} is not supported; supported: Discrete")
        self.space = space
        self.size = int(space.n)

    def to_env(self, encoded: Tensor) -> np.ndarray:
        """[N, size] one-hot -> [N] env actions."""
        return (encoded.argmax(-1).cpu().numpy() + self.space.start).astype(np.int64)

    def random(self, num: int, rng: np.random.Generator) -> Tensor:
        index = torch.from_numpy(rng.integers(self.size, size=num))
        return torch.nn.functional.one_hot(index, self.size).float()
