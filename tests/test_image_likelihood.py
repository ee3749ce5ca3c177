"""Image decoders scored by a Bernoulli likelihood (`model.image_likelihood=bernoulli`): the
loss is each pixel's cross-entropy against pixel / 255, its gradient sigmoid(logit) - target,
the decoded pixels the probabilities × 255, and a mean-frame start predicts the first
batch's mean on real MinAtar boards."""

import math

import pytest
import torch

from agent.agent import Agent
from agent.analysis.random_data import random_policy_replay
from agent.errors import ConfigError
from agent.loop.evaluate import env_interface
from agent.model.convnets import ConvDecoder
from tests.helpers import compose_config

pytest.importorskip("minatar", reason="the minatar extra: pip install -e '.[minatar]'")

OVERRIDES = ("env=minatar", "env.game=breakout", "preset=debug", "model.cnn_depth=4",
             "model.image_likelihood=bernoulli")


def test_the_loss_is_each_pixels_cross_entropy_and_its_gradient_the_error_of_the_probability():
    decoder = ConvDecoder(8, (1, 16, 16), 4, likelihood="bernoulli")
    logits = torch.zeros(2, 1, 16, 16)
    logits[0, 0, 3, 4], logits[1, 0, 5, 5] = 2.0, -3.0
    logits.requires_grad_(True)
    image = torch.zeros(2, 1, 16, 16, dtype=torch.uint8)
    image[0, 0, 3, 4], image[1, 0, 5, 5], image[1, 0, 0, 0] = 255, 255, 51  # 51 = 0.2 lit
    loss = decoder.loss(logits, image)
    # a logit of 0 costs log 2 whatever the target; the three others by hand
    lit_at_2, lit_at_minus_3 = math.log1p(math.exp(-2)), math.log1p(math.exp(3))
    fifth_at_0 = math.log(2)
    expected = [255 * math.log(2) + lit_at_2, 254 * math.log(2) + lit_at_minus_3 + fifth_at_0]
    torch.testing.assert_close(loss, torch.tensor(expected), rtol=1e-5, atol=1e-5)
    loss.sum().backward()
    target = image.float() / 255
    torch.testing.assert_close(logits.grad, torch.sigmoid(logits.detach()) - target)
    assert logits.grad[0, 0, 3, 4] == pytest.approx(torch.sigmoid(torch.tensor(2.0)) - 1)
    pixels = decoder.pixels(logits.detach())
    assert pixels.dtype == torch.uint8
    assert pixels[0, 0, 3, 4] == round(255 * torch.sigmoid(torch.tensor(2.0)).item())
    assert pixels[0, 0, 0, 0] == 128  # probability 1/2


def test_squared_error_stays_the_default_and_an_unknown_likelihood_is_refused():
    cfg = compose_config("env=minatar", "preset=debug")
    assert cfg.model.image_likelihood == "mse"
    with pytest.raises(ConfigError, match=r"model.image_likelihood='gauss': use mse or bernoulli"):
        make_agent(compose_config(*OVERRIDES[:-1], "model.image_likelihood=gauss"))


def make_agent(cfg):
    codec, spec = env_interface(cfg.env)
    torch.manual_seed(0)
    return Agent(spec, codec, cfg)


def test_a_mean_frame_start_predicts_the_first_batchs_mean_probability():
    cfg = compose_config(*OVERRIDES, "model.image_decoder_start=mean_frame")
    replay = random_policy_replay(cfg.env.id, 40, num_envs=2, image_size=cfg.env.image_size,
                                  **cfg.env.wrappers())
    agent = make_agent(cfg)
    wm = agent.world_model
    batch = replay.sample(4, 8)
    (key,) = wm.image_keys
    losses, states = agent.world_model_gradients(batch)
    lit = (batch.obs[key].float() / 255).flatten(0, 1).mean(0)
    decoder = wm.image_decoders[key]
    predicted = torch.sigmoid(decoder(wm.feat(states.h, states.quantized.code)))
    expected = lit.clamp(1e-3, 1 - 1e-3)  # never lit (or always) in the batch: kept off 0 (1)
    torch.testing.assert_close(predicted, expected.expand_as(predicted), rtol=1e-4, atol=1e-6)
    # the first reconstruction loss is then the batch's own pixel entropy, near enough
    target = batch.obs[key].float() / 255
    cross = -(target * expected.log() + (1 - target) * (1 - expected).log())
    torch.testing.assert_close(losses["recon"], cross.sum((-3, -2, -1)).mean(), rtol=1e-4,
                               atol=1e-3)
