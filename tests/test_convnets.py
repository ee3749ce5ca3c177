"""The image encoder and decoder: channels-last on the CPU changes speed, not results."""

import copy
import io

import gymnasium as gym
import numpy as np
import pytest
import torch

from agent.agent import Agent
from agent.errors import ConfigError
from agent.model.convnets import ConvDecoder, ConvEncoder, prefer_cpu_layout
from agent.validation import validate
from envs import ObservationSpec
from tests.conftest import small_config

NHWC = torch.channels_last


def _conv_weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p for p in module.parameters() if p.dim() == 4]


def test_channels_last_gives_the_channels_first_outputs_and_gradients():
    torch.manual_seed(0)
    nchw = torch.nn.ModuleList([ConvEncoder((3, 32, 32), 4), ConvDecoder(8, (3, 32, 32), 4)])
    nhwc = copy.deepcopy(nchw)
    prefer_cpu_layout(nhwc)
    assert all(w.is_contiguous(memory_format=NHWC) for w in _conv_weights(nhwc))
    assert not any(w.is_contiguous(memory_format=NHWC) for w in _conv_weights(nchw))
    image = torch.randint(0, 256, (2, 5, 3, 32, 32), dtype=torch.uint8)
    feat = torch.randn(2, 5, 8)
    outputs = []
    for enc, dec in (nchw, nhwc):
        embed, recon = enc(image), dec(feat)
        (embed.square().sum() + recon.square().sum()).backward()
        outputs.append((embed, recon, [p.grad for p in (*enc.parameters(), *dec.parameters())]))
    (e0, r0, g0), (e1, r1, g1) = outputs
    assert r1.shape == (2, 5, 3, 32, 32)
    torch.testing.assert_close(e1, e0, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(r1, r0, rtol=1e-4, atol=1e-5)
    for a, b in zip(g1, g0, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def test_a_cpu_agent_keeps_channels_last_weights_through_a_state_dict_round_trip():
    spec = ObservationSpec(gym.spaces.Box(0, 255, (16, 16, 3), np.uint8), image_size=16)
    cfg = small_config()
    cfg.model.cnn_depth = 4
    saved, fresh = Agent(spec, 2, cfg), Agent(spec, 2, cfg)
    buffer = io.BytesIO()
    torch.save(saved.state_dict(), buffer)
    buffer.seek(0)
    fresh.load_state_dict(torch.load(buffer))
    weights = list(zip(_conv_weights(saved), _conv_weights(fresh), strict=True))
    assert len(weights) == 8  # four encoder and four decoder convolutions
    for before, after in weights:
        assert after.is_contiguous(memory_format=NHWC)
        torch.testing.assert_close(after, before, rtol=0, atol=0)


def test_min_res_stops_halving_at_that_side_and_the_decoder_grows_back_from_it():
    for size, min_res, last_side, convs in ((16, 1, 1, 4), (16, 4, 4, 2), (32, 4, 4, 3),
                                            (64, 4, 4, 4), (64, 1, 4, 4), (16, 8, 8, 1)):
        enc, dec = ConvEncoder((3, size, size), 4, min_res), ConvDecoder(8, (3, size, size), 4,
                                                                         min_res=min_res)
        assert len(_conv_weights(enc)) == len(_conv_weights(dec)) == convs
        assert enc.out_dim == 4 * 2 ** (convs - 1) * last_side**2
        assert dec.start == (4 * 2 ** (convs - 1), last_side)
        image = torch.randint(0, 256, (2, 3, size, size), dtype=torch.uint8)
        assert enc(image).shape == (2, enc.out_dim)
        assert dec(torch.randn(2, 8)).shape == (2, 3, size, size)



@pytest.mark.parametrize("min_res", [0, 16])
def test_a_min_res_no_image_can_reach_is_refused_before_building(min_res):
    cfg = small_config()
    cfg.model.cnn_min_res = min_res
    with pytest.raises(ConfigError, match=rf"model\.cnn_min_res={min_res} is invalid: it must "
                                          r"be between 1 and 8"):
        validate(cfg)
