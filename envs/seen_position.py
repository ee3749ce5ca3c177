"""Seen position: the reward depends on what only the image shows. Registered as
`SeenPosition-v0`.

A point moves in the square [-1, 1]^2. The observation is a Dict:

    image      uint8 (16, 16, 1): black, with the point as a bright 2 x 2 block
    velocity   float32 (2,): the point's velocity

The action, in [-1, 1]^2, pushes the point (velocity += 0.2 a, then damped by 0.9; the
position moves by 0.1 velocity and stops at the walls). The reward at every step is
-|position| (the distance from the centre), an episode is 50 steps, and it starts at rest
at a uniformly random position. Only the image shows the position, so an agent that does
not see through its image part can at best stop the point where it started (about -0.77 a
step, -38 an episode, for a point that never moves); one that sees it brings it to the
centre in a few steps.
"""

import gymnasium as gym
import numpy as np

SIDE = 16
BLOCK = 2
EPISODE = 50


class SeenPosition(gym.Env):
    metadata = {"render_modes": []}
    observation_space = gym.spaces.Dict({
        "image": gym.spaces.Box(0, 255, (SIDE, SIDE, 1), np.uint8),
        "velocity": gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)})
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def __init__(self):
        self.position = np.zeros(2)
        self.velocity = np.zeros(2)
        self.t = 0

    def image(self) -> np.ndarray:
        """The point as a BLOCK x BLOCK square at its cell of the SIDE x SIDE grid."""
        frame = np.zeros((SIDE, SIDE, 1), np.uint8)
        row, col = np.clip(((self.position + 1) / 2 * (SIDE - BLOCK)).round().astype(int),
                           0, SIDE - BLOCK)
        frame[row:row + BLOCK, col:col + BLOCK] = 255
        return frame

    def _obs(self) -> dict:
        return {"image": self.image(), "velocity": self.velocity.astype(np.float32)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position = self.np_random.uniform(-1, 1, 2)
        self.velocity = np.zeros(2)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        push = np.clip(np.asarray(action, float), -1, 1)
        self.velocity = 0.9 * (self.velocity + 0.2 * push)
        moved = self.position + 0.1 * self.velocity
        self.position = np.clip(moved, -1, 1)
        self.velocity[moved != self.position] = 0.0  # a wall stops that component
        self.t += 1
        reward = -float(np.linalg.norm(self.position))
        return self._obs(), reward, False, self.t >= EPISODE, {"position": self.position.copy()}


gym.register("SeenPosition-v0", entry_point=SeenPosition)
