"""Cue recall: a task that needs memory and nothing else. Registered as `CueRecall-v0`.

    step t      0              1 ... delay - 1     delay              (terminal)
    obs         [cue, 0]       [0, 0, 0]           [0, 0, 1]          [0, 0, 0]
    action      ignored        ignored             the answer
    reward      on arriving:   0                   0 ...              +1 if answer == cue, else -1

The observation is [cue as a one-hot of 2, answer-now flag]. The cue is drawn uniformly at
reset and shown only at t = 0. The flag makes *when* to answer observable, so the one thing
the task asks to remember is the cue: a policy (or a reward model) that keeps it for `delay`
steps gets +1 every episode, one that does not gets 0 in expectation. With delay = 0 the cue
and the flag appear together and nothing needs remembering. An episode is delay + 1 steps.
"""

import gymnasium as gym
import numpy as np

CUES = 2


class CueRecall(gym.Env):
    metadata = {"render_modes": []}
    observation_space = gym.spaces.Box(0.0, 1.0, (CUES + 1,), np.float32)
    action_space = gym.spaces.Discrete(CUES)

    def __init__(self, delay: int = 6):
        if delay < 0:
            raise ValueError(f"delay={delay} must be >= 0")
        self.delay = delay
        self.cue, self.t = 0, 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(CUES + 1, np.float32)
        if self.t == 0:
            obs[self.cue] = 1.0
        if self.t == self.delay:
            obs[CUES] = 1.0
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.cue, self.t = int(self.np_random.integers(CUES)), 0
        return self._obs(), {"cue": self.cue}

    def step(self, action):
        if self.t > self.delay:
            raise RuntimeError("step after the episode ended; call reset")
        answer = self.t == self.delay
        reward = (1.0 if int(action) == self.cue else -1.0) if answer else 0.0
        self.t += 1  # past the answer step, _obs() is all zeros
        return self._obs(), reward, answer, False, {"cue": self.cue}


gym.register("CueRecall-v0", entry_point=CueRecall, reward_threshold=0.95)
