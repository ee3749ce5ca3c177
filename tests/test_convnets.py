"""The image encoder and decoder: channels-last on the CPU changes speed, not results."""

import copy
import io

import gymnasium as gym
import numpy as np
import torch

from agent.agent import Agent
from agent.model.convnets import ConvDecoder, ConvEncoder, prefer_cpu_layout
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
