"""The policy the driver calls while training."""

import numpy as np
import torch

from agent.agent import Agent, PolicyState
from agent.data import Obs
from envs import ActionCodec


class Collector:
    """Uniform random actions while `explore` (prefill), then the agent's, carrying its
    recurrent state from call to call."""

    def __init__(self, agent: Agent, codec: ActionCodec, num_envs: int,
                 rng: np.random.Generator):
        self.agent, self.codec, self.rng = agent, codec, rng
        self.state = agent.initial_state(num_envs)
        self.explore = True

    def __call__(self, obs: Obs, is_first: torch.Tensor) -> torch.Tensor:
        if self.explore:
            return self.codec.random(is_first.shape[0], self.rng)
        device = self.agent.device
        obs = {k: v.to(device) for k, v in obs.items()}
        action, self.state = self.agent.policy(obs, is_first.to(device), self.state)
        return action

    def state_dict(self) -> dict:
        return {"policy": list(self.state), "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        device = self.agent.device
        self.state = PolicyState(*(t.to(device) for t in state["policy"]))
        self.rng.bit_generator.state = state["rng"]
