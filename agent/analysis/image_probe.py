"""Does the world model read its reward from the image? Train it alone on a random
policy's SeenPosition-v0 steps (envs/seen_position.py: the position, on which the reward
depends, is only in the image) and compare its reward predictions on held-out windows with
the truth, and with each window's image part swapped for another window's."""

import gymnasium as gym
import numpy as np
import torch

from agent.agent import Agent
from agent.analysis.random_data import observed_rewards, random_policy_replay
from agent.loop.replay import Replay
from envs import ObservationSpec

ENV_ID = "SeenPosition-v0"


def observation_spec() -> ObservationSpec:
    return ObservationSpec(gym.make(ENV_ID).observation_space)


def held_out(steps: int = 100, seed: int = 1) -> Replay:
    return random_policy_replay(ENV_ID, steps, seed=seed)


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.corrcoef(torch.stack([a, b]))[0, 1].item()


@torch.no_grad()
def image_dependence(agent: Agent, replay: Replay, windows: int = 32,
                     length: int = 16) -> dict[str, float]:
    """Correlations of the predicted reward (from the second step of each window on) with
    the true reward (`own`), and, with every window's images replaced by the next window's,
    with the reward those images show (`swapped_other`) and with the true one
    (`swapped_own`). A model that reads the image: own and swapped_other high, swapped_own
    near 0."""
    batch = replay.sample(windows, length, rng=np.random.default_rng(0))

    def predicted(obs) -> torch.Tensor:
        return observed_rewards(agent, obs, batch.action, batch.is_first)[:, 1:].flatten()

    own = predicted(batch.obs)
    swapped = predicted(batch.obs | {"image": batch.obs["image"].roll(1, 0)})
    truth = batch.reward[:, 1:].flatten()
    other = batch.reward.roll(1, 0)[:, 1:].flatten()
    return {"own": correlation(own, truth), "swapped_other": correlation(swapped, other),
            "swapped_own": correlation(swapped, truth)}
