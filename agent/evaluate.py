"""Greedy evaluation: one episode in each of `episodes` parallel envs."""

import numpy as np
import torch

from agent.agent import Agent
from envs import ActionCodec, make_vector_env


class Evaluator:
    def __init__(self, env_id: str, kwargs: dict, episodes: int, codec: ActionCodec, seed: int):
        self.envs = make_vector_env(env_id, episodes, kwargs)
        self.codec, self.seed, self.runs = codec, seed, 0

    def __call__(self, agent: Agent) -> dict[str, float]:
        envs = self.envs
        n = envs.num_envs
        obs, _ = envs.reset(seed=self.seed + 1000 * self.runs)
        self.runs += 1
        state = agent.initial_state(n)
        is_first = torch.ones(n)
        returns, lengths = np.zeros(n), np.zeros(n, np.int64)
        running = np.ones(n, bool)
        while running.any():
            obs_t = torch.as_tensor(obs, device=agent.device)
            action, state = agent.policy(obs_t, is_first.to(agent.device), state, greedy=True)
            obs, reward, term, trunc, _ = envs.step(self.codec.to_env(action))
            returns += reward * running
            lengths += running
            running &= ~(term | trunc)
            is_first = torch.zeros(n)
        return {"eval/return": float(returns.mean()), "eval/return_std": float(returns.std()),
                "eval/length": float(lengths.mean()), "eval/episodes": float(n)}

    def close(self) -> None:
        self.envs.close()
