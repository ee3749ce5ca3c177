"""Image decoders that start at the mean frame (`model.image_decoder_start=mean_frame`), on
real MinAtar boards: the first prediction is the first batch's mean frame, it is set once
and kept through a checkpoint, and a checkpoint from before the start existed loads."""

import io

import pytest
import torch

from agent.agent import Agent
from agent.analysis.random_data import random_policy_replay
from agent.errors import ConfigError
from agent.loop.evaluate import env_interface
from agent.model.convnets import image_target
from envs import ObservationSpec
from tests.helpers import compose_config

pytest.importorskip("minatar", reason="the minatar extra: pip install -e '.[minatar]'")

OVERRIDES = ("env=minatar", "env.game=breakout", "preset=debug", "model.cnn_depth=4")


@pytest.fixture(scope="module")
def replay():
    cfg = compose_config(*OVERRIDES)
    return random_policy_replay(cfg.env.id, 40, num_envs=2, image_size=cfg.env.image_size,
                                **cfg.env.wrappers())


def make_agent(replay, start="mean_frame"):
    cfg = compose_config(*OVERRIDES, f"model.image_decoder_start={start}")
    codec, spec = env_interface(cfg.env)
    torch.manual_seed(0)
    return Agent(spec, codec, cfg)


def test_the_first_prediction_is_the_first_batchs_mean_frame(replay):
    agent = make_agent(replay)
    wm = agent.world_model
    batch = replay.sample(4, 8)
    (key,) = wm.image_keys
    losses, states = agent.world_model_gradients(batch)
    target = image_target(batch.obs[key])
    mean = target.flatten(0, 1).mean(0)
    predicted = wm.image_decoders[key](wm.feat(states.h, states.quantized.code))
    torch.testing.assert_close(predicted, mean.expand_as(predicted), rtol=0, atol=1e-6)
    # So the first reconstruction loss is the batch's variance, summed over the pixels.
    variance = (target - mean).pow(2).sum((-3, -2, -1)).mean()
    torch.testing.assert_close(losses["recon"], variance, rtol=1e-5, atol=1e-4)
    # The last layer starts at zero, but it gets a gradient: the features can come in.
    last = wm.image_decoders[key].net[-1]
    assert torch.all(last.weight == 0) and last.weight.grad.abs().sum() > 0


def test_a_random_start_keeps_pytorchs_initialisation(replay):
    agent = make_agent(replay, "random")
    decoder = next(iter(agent.world_model.image_decoders.values()))
    assert decoder.mean_frame is None and decoder.net[-1].weight.abs().sum() > 0


def test_the_mean_frame_is_set_once_and_kept_through_a_checkpoint(replay):
    agent = make_agent(replay)
    wm = agent.world_model
    decoder = next(iter(wm.image_decoders.values()))
    agent.world_model_gradients(replay.sample(4, 8))
    first = decoder.mean_frame.detach().clone()
    agent.world_model_gradients(replay.sample(4, 8))  # another batch: no second start
    torch.testing.assert_close(decoder.mean_frame, first, rtol=0, atol=0)
    buffer = io.BytesIO()
    torch.save(agent.state_dict(), buffer)
    buffer.seek(0)
    resumed = make_agent(replay)
    resumed.load_state_dict(torch.load(buffer))
    resumed.world_model_gradients(replay.sample(4, 8))
    resumed_decoder = next(iter(resumed.world_model.image_decoders.values()))
    torch.testing.assert_close(resumed_decoder.mean_frame, first, rtol=0, atol=0)


def test_a_checkpoint_from_before_the_start_existed_has_nothing_left_to_start(replay):
    old = {k: v for k, v in make_agent(replay, "random").state_dict().items()
           if not k.endswith("started")}  # what a run saved before this change held
    agent = make_agent(replay, "random")
    agent.load_state_dict(old)
    assert bool(agent.world_model.started)


def test_an_unknown_start_is_refused_with_the_choices(replay):
    with pytest.raises(ConfigError, match="random or mean_frame"):
        make_agent(replay, "zeros")


def test_vector_observations_have_nothing_to_start():
    import gymnasium as gym
    import numpy as np

    spec = ObservationSpec(gym.spaces.Box(-1, 1, (4,), np.float32))
    agent = Agent(spec, 2, compose_config("model.image_decoder_start=mean_frame"))
    agent.world_model.start_from({"obs": torch.zeros(2, 3, 4)})
    assert bool(agent.world_model.started)
