"""The seen-position task (envs/seen_position.py): the position only in the image."""

import gymnasium as gym
import numpy as np
import torch

import agent.quantizers  # noqa: F401  (registers every quantizer)
import envs  # noqa: F401  (registers SeenPosition-v0)
from agent.agent import Agent
from agent.analysis.image_probe import ENV_ID, held_out, image_dependence, observation_spec
from agent.analysis.random_data import random_policy_replay, train_world_model
from agent.config import Config
from envs import ObservationSpec
from tests.helpers import compose_config


def test_the_image_shows_the_position_and_the_reward_is_minus_its_distance():
    env = gym.make("SeenPosition-v0")
    obs, _ = env.reset(seed=3)
    rng = np.random.default_rng(0)
    for t in range(1, 51):
        obs, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, 2))
        rows, cols = np.nonzero(obs["image"][..., 0])
        assert len(rows) == 4 and set(np.unique(obs["image"])) == {0, 255}
        centre = (np.array([rows.mean(), cols.mean()]) - 0.5) / 14 * 2 - 1
        assert np.abs(centre - info["position"]).max() <= 1 / 14 + 1e-9  # to a grid cell
        assert reward == -np.linalg.norm(info["position"])
        assert np.array_equal(obs["velocity"], env.unwrapped.velocity.astype(np.float32))
        assert not terminated and truncated == (t == 50)


def test_a_wall_stops_the_point():
    env = gym.make("SeenPosition-v0").unwrapped
    env.reset(seed=0)
    for _ in range(60):
        _, _, _, _, info = env.step(np.array([1.0, 0.0]))
    assert info["position"][0] == 1.0 and env.velocity[0] == 0.0


def test_the_image_keeps_its_own_size():
    spec = ObservationSpec(gym.make("SeenPosition-v0").observation_space)
    assert spec.keys["image"].shape == (1, 16, 16) and spec.keys["velocity"].shape == (2,)


def test_the_world_model_reads_the_reward_from_the_image_part():
    """Trained alone on a random policy's steps, the reward head follows the image: with
    each window's images swapped for another window's (velocities and actions kept), its
    prediction follows the reward those images show, not the window's own."""
    torch.manual_seed(0)
    cfg = Config()  # small and fast: a continuous code, 32 units (docs/results/images.md)
    cfg.quantizer = agent.quantizers.registry.quantizer_class("none").Options()
    cfg.model.deter = cfg.model.units = 32
    cfg.model.layers, cfg.model.cnn_depth, cfg.model.reward_outscale = 1, 8, 1.0
    cfg.train.model_opt.lr = 1e-3
    cfg.train.batch_size, cfg.train.seq_len = 16, 16
    model = Agent(observation_spec(), 2, cfg)
    test = held_out(seed=1)
    before = image_dependence(model, test)
    train_world_model(model, random_policy_replay(ENV_ID, 400, seed=0), 900)
    after = image_dependence(model, test)
    assert after["own"] > 0.8 and after["swapped_other"] > 0.6 and after["swapped_own"] < 0.3
    assert before["swapped_other"] < 0.3  # untrained, it did not


def test_the_task_config_sets_what_made_the_agent_learn_it_and_nothing_global():
    tuned, default = compose_config("env=seen_position"), compose_config()
    assert tuned.env.id == "SeenPosition-v0"
    assert (tuned.model.actor_outscale, tuned.train.model_opt.lr, tuned.train.train_ratio) \
        == (0.01, 1e-3, 512)
    assert (default.model.actor_outscale, default.train.model_opt.lr,
            default.train.train_ratio) == (1.0, 3e-4, 256)
