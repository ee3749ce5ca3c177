"""Keeping a window of an image observation, before it is resized for the CNN.

A render can spend most of its pixels on background: CartPole-v1 draws cart and pole in the
rows from 43% to 79% of its 600 x 400 frame, so shrunk whole to 64 x 64 the pole is one
pixel wide and a 0.05-rad tilt changes 37 pixels; the rows from 37% to 83% shrunk to the
same size show that tilt in 81 (`benchmarks/pixel_signal.py --crop 0.37 0.83 0 1`)."""

import gymnasium as gym
import numpy as np

from envs.errors import EnvError

Window = tuple[float, float, float, float]
"""(top, bottom, left, right), each a fraction of the image's height or width."""


def check_window(window) -> Window:
    """The window as four floats, or an EnvError naming what is wrong with it."""
    try:
        top, bottom, left, right = (float(v) for v in window)
    except (TypeError, ValueError):
        raise EnvError(f"env.crop={window!r} is not [top, bottom, left, right]: four "
                       f"fractions of the image's height and width, e.g. [0.37, 0.83, 0, 1]"
                       ) from None
    if not (0 <= top < bottom <= 1 and 0 <= left < right <= 1):
        raise EnvError(f"env.crop={list(window)} is not a window of the image: it needs "
                       f"0 <= top < bottom <= 1 and 0 <= left < right <= 1")
    return top, bottom, left, right


def pixel_bounds(window: Window, height: int, width: int) -> tuple[int, int, int, int]:
    """The window in rows and columns of a height x width image (at least one of each)."""
    top, bottom, left, right = window
    row0 = min(int(round(top * height)), height - 1)
    col0 = min(int(round(left * width)), width - 1)
    row1 = min(max(row0 + 1, int(round(bottom * height))), height)
    col1 = min(max(col0 + 1, int(round(right * width))), width)
    return row0, row1, col0, col1


class CropImage(gym.ObservationWrapper):
    """Observations are the window of the env's image (H, W) or (H, W, C)."""

    def __init__(self, env: gym.Env, window):
        super().__init__(env)
        space = env.observation_space
        if not (isinstance(space, gym.spaces.Box) and len(space.shape) in (2, 3)):
            raise EnvError(f"env.crop applies to an env whose observation is one image, "
                           f"not {space}; use it with env.obs=pixels or an image env, or "
                           f"leave env.crop unset")
        self.rows_cols = pixel_bounds(check_window(window), *space.shape[:2])
        row0, row1, col0, col1 = self.rows_cols
        shape = (row1 - row0, col1 - col0, *space.shape[2:])
        self.observation_space = gym.spaces.Box(
            low=self.observation(np.broadcast_to(space.low, space.shape)),
            high=self.observation(np.broadcast_to(space.high, space.shape)),
            shape=shape, dtype=space.dtype)

    def observation(self, observation):
        row0, row1, col0, col1 = self.rows_cols
        return np.ascontiguousarray(observation[row0:row1, col0:col1])
