"""The policy the driver steps envs with: the agent's, carrying its recurrent state."""

import numpy as np
import torch

from agent.agent import Agent, PolicyState
from agent.data import Obs
from envs import ActionCodec


class ActingPolicy:
    """The agent's actions, sampled (training) or its mode (`greedy`: evaluation and
    videos); while `explore` is set, uniform random actions instead (prefill)."""

    def __init__(self, agent: Agent, codec: ActionCodec, num_envs: int,
                 rng: np.random.Generator | None = None, greedy: bool = False):
        self.agent, self.codec, self.greedy = agent, codec, greedy
        self.rng = rng or np.random.default_rng()
        self.state = agent.initial_state(num_envs)
        self.explore = False

    def __call__(self, obs: Obs, is_first: torch.Tensor) -> torch.Tensor:
        if self.explore:
            return self.codec.random(is_first.shape[0], self.rng)
        device = self.agent.device
        obs = {k: v.to(device) for k, v in obs.items()}
        action, self.state = self.agent.policy(obs, is_first.to(device), self.state,
                                               self.greedy)
        return action

    def state_dict(self) -> dict:
        return {"policy": list(self.state), "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        device = self.agent.device
        self.state = PolicyState(*(t.to(device) for t in state["policy"]))
        self.rng.bit_generator.state = state["rng"]
