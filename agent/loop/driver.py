"""Stepping a vector env with a policy, in the layout replay stores: the one loop that
training, evaluation and videos all step envs with.

    call        reset        step(a_0)       step(a_1) ...  step(a_T) on a done env
    returns     o_0          o_1, r_1        o_2, r_2       o_0', r = 0   (next-step autoreset)
    stored      (o_0, a_0, r_0 = 0, first=1)  (o_1, a_1, r_1, first=0, cont=1 - term_1) ...

The step after a done is a reset, so `is_first` of the next stored step is the previous done.
"""

from collections.abc import Callable
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from agent.data import Obs
from envs import ActionCodec, ObservationSpec, set_pending_resets


class Step(NamedTuple):
    obs: Obs          # {key: [N, *shape]}
    action: Tensor    # [N, act_dim]
    reward: Tensor    # [N]
    is_first: Tensor  # [N]
    cont: Tensor      # [N]


class Episode(NamedTuple):
    ret: float
    length: int
    env: int = 0  # which of the vector env's copies played it


Policy = Callable[[Obs, Tensor], Tensor]  # (obs, is_first [N]) -> actions [N, A]


class Driver:
    def __init__(self, envs: gym.vector.VectorEnv, codec: ActionCodec,
                 spec: ObservationSpec, seed: int | list[int]):
        """`seed`: the first reset's, one for all envs (env i gets seed + i) or one each."""
        self.envs, self.codec, self.spec = envs, codec, spec
        obs, _ = envs.reset(seed=seed)
        n = envs.num_envs
        self.obs = spec.to_tensors(obs)
        self.reward = np.zeros(n, np.float32)
        self.is_first = np.ones(n, bool)
        self.terminated = np.zeros(n, bool)
        self.done = np.zeros(n, bool)
        self.ep_return = np.zeros(n, np.float64)
        self.ep_length = np.zeros(n, np.int64)

    ARRAYS = ("reward", "is_first", "terminated", "done", "ep_return", "ep_length")

    def state_dict(self) -> dict:
        """The pending observation and flags, and each env's episode so far (see
        envs/replayable.py), so a resumed run continues the same episodes."""
        return {**{name: torch.as_tensor(getattr(self, name)) for name in self.ARRAYS},
                "obs": dict(self.obs), "envs": self.envs.call("snapshot")}

    def load_state_dict(self, state: dict) -> None:
        if not hasattr(self.envs, "envs"):
            raise ValueError("resuming needs env.vector=sync (sub-envs are restored in place)")
        for env, snapshot in zip(self.envs.envs, state["envs"], strict=True):
            env.restore(snapshot)
        for name in self.ARRAYS:
            setattr(self, name, state[name].numpy().copy())
        self.obs = {k: v.clone() for k, v in state["obs"].items()}
        set_pending_resets(self.envs, self.done)  # their next step is a reset, as before

    def step(self, policy: Policy) -> tuple[Step, list[Episode]]:
        """Act once in every env; returns the stored step and the episodes it finished."""
        is_first = torch.as_tensor(self.is_first, dtype=torch.float32)
        action = policy(self.obs, is_first).cpu()
        step = Step(self.obs, action, torch.as_tensor(self.reward),
                    is_first, torch.as_tensor(~self.terminated, dtype=torch.float32))
        obs, reward, term, trunc, _ = self.envs.step(self.codec.to_env(action))
        self.obs = self.spec.to_tensors(obs)
        self.is_first = self.done
        self.reward = reward.astype(np.float32)
        self.terminated = term
        self.done = term | trunc
        self.ep_return = np.where(self.is_first, 0.0, self.ep_return + reward)
        self.ep_length = np.where(self.is_first, 0, self.ep_length + 1)
        finished = [Episode(float(self.ep_return[i]), int(self.ep_length[i]), int(i))
                    for i in np.flatnonzero(self.done)]
        return step, finished


def play_episodes(driver: Driver, policy: Policy, on_step: Callable[[], None] | None = None,
                  max_steps: int | None = None) -> list[Episode]:
    """Step until every env has finished an episode (or `max_steps` steps); returns the
    first episode of each env that finished one, in env order. `on_step` is called after
    every step (e.g. to render a video frame)."""
    first: dict[int, Episode] = {}
    steps = 0
    while len(first) < driver.envs.num_envs and (max_steps is None or steps < max_steps):
        _, finished = driver.step(policy)
        for episode in finished:
            first.setdefault(episode.env, episode)
        steps += 1
        if on_step is not None:
            on_step()
    return [first[i] for i in sorted(first)]
