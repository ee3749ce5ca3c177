"""A world model trained alone on a random policy's data: the probes' common ground (what
the model can learn from the data, with the behaviour taken out)."""

import numpy as np
import torch

from agent.agent import Agent, evaluating
from agent.loop.driver import Driver
from agent.loop.replay import Replay
from envs import ActionCodec, ObservationSpec, make_vector_env


def random_policy_replay(env_id: str, steps: int, kwargs: dict | None = None,
                         num_envs: int = 4, seed: int = 0, image_size: int | str = "auto",
                         image_fit: str = "resize", **wrappers) -> Replay:
    """`steps` vector steps of uniform random actions, stored as training stores them
    (`image_size`, `image_fit` and `wrappers` as a run's env config gives them)."""
    envs = make_vector_env(env_id, num_envs, kwargs or {}, **wrappers)
    codec = ActionCodec(envs.single_action_space)
    spec = ObservationSpec(envs.single_observation_space, image_size, image_fit)
    replay = Replay(steps * num_envs, num_envs, spec, codec.size, seed=seed)
    driver = Driver(envs, codec, spec, seed)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        step, _ = driver.step(lambda obs, is_first: codec.random(is_first.shape[0], rng))
        replay.add(*step)
    envs.close()
    return replay


def train_world_model(agent: Agent, replay: Replay, updates: int) -> list[float]:
    """`updates` steps of the world model alone (the agent's loss scales and model
    optimizer, batches of the config's shape); returns the reward loss of each."""
    t = agent.cfg.train
    optimizer = agent.optimizers["model"]
    rewards = []
    for _ in range(updates):
        optimizer.adam.zero_grad(set_to_none=True)
        losses, _ = agent.world_model_gradients(replay.sample(t.batch_size, t.seq_len))
        optimizer.clip_gradients()
        optimizer.step()
        rewards.append(losses["reward"].item())
    return rewards


def train_in_chunks(agent: Agent, replay: Replay, updates: int, every: int):
    """Train the world model alone for `updates` in chunks of `every`; yields after each
    chunk (updates done so far, the chunk's reward losses), for a probe to score it."""
    for done in range(every, updates + 1, every):
        yield done, train_world_model(agent, replay, every)


@torch.no_grad()
def observed_rewards(agent: Agent, obs, action, is_first) -> torch.Tensor:
    """The reward head's prediction [B, T] at every observed step, in eval mode."""
    wm = agent.world_model
    with evaluating(wm):
        states = wm.observe(obs, action, is_first)
        return wm.reward_mean(wm.feat(states.h, states.quantized.code))
