"""Real CartPole data for tests: a random policy's steps, laid out as replay stores them."""

import numpy as np
import torch

from agent.driver import Driver
from agent.replay import Replay
from envs import ActionCodec, make_vector_env


class RecordingPolicy:
    """Uniform random actions, remembering which observation each was chosen for."""

    def __init__(self, codec: ActionCodec, seed: int):
        self.codec, self.rng = codec, np.random.default_rng(seed)
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __call__(self, obs: torch.Tensor, is_first: torch.Tensor) -> torch.Tensor:
        action = self.codec.random(obs.shape[0], self.rng)
        self.seen.append((obs.clone(), action))
        return action


def cartpole_replay(steps: int = 200, num_envs: int = 2, seed: int = 0,
                    policy_log: list | None = None, **env_kwargs) -> Replay:
    envs = make_vector_env("CartPole-v1", num_envs, env_kwargs)
    codec = ActionCodec(envs.single_action_space)
    replay = Replay(10_000, num_envs, (4,), torch.float32, codec.size, seed=seed)
    driver = Driver(envs, codec, seed)
    policy = RecordingPolicy(codec, seed)
    for _ in range(steps):
        step, _ = driver.step(policy)
        replay.add(*step)
    envs.close()
    if policy_log is not None:
        policy_log.extend(policy.seen)
    return replay
