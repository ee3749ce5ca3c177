"""Real CartPole data for tests: a random policy's steps, laid out as replay stores them."""

import numpy as np
import torch

from agent.driver import Driver
from agent.replay import Replay
from envs import ActionCodec, make_vector_env


def cartpole_replay(steps: int = 200, num_envs: int = 2, seed: int = 0,
                    **env_kwargs) -> Replay:
    envs = make_vector_env("CartPole-v1", num_envs, env_kwargs)
    codec = ActionCodec(envs.single_action_space)
    replay = Replay(10_000, num_envs, (4,), torch.float32, codec.size, seed=seed)
    driver = Driver(envs, codec, seed)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        step, _ = driver.step(lambda obs, first: codec.random(obs.shape[0], rng))
        replay.add(*step)
    envs.close()
    return replay
