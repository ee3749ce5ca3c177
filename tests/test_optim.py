"""The optimizer's learning-rate warm-up: the rate each update takes, what a checkpoint keeps
of it, and checkpoints saved before it existed."""

import pytest
import torch
from torch import nn

from agent.config import OptimConfig
from agent.errors import ConfigError
from agent.optim import Optimizer
from agent.validation import validate
from tests.helpers import compose_config


def moves(opt: Optimizer, weight: nn.Parameter, updates: int) -> list[float]:
    """How far each update moves the weight under a constant gradient. Adam normalises the
    gradient by its running scale, so with one that never changes each step is the rate."""
    out = []
    for _ in range(updates):
        before = weight.item()
        weight.grad = torch.ones_like(weight)
        opt.step()
        out.append(before - weight.item())
    return out


def linear(value: float = 0.0) -> nn.Linear:
    layer = nn.Linear(1, 1, bias=False)
    nn.init.constant_(layer.weight, value)
    return layer


def test_the_rate_rises_linearly_over_the_warmup_then_holds():
    layer = linear()
    opt = Optimizer([layer], OptimConfig(lr=0.01, eps=1e-12, warmup=4))
    assert moves(opt, layer.weight, 6) == pytest.approx([0.0025, 0.005, 0.0075, 0.01, 0.01,
                                                         0.01], rel=1e-5)
    plain = linear()
    no_warmup = Optimizer([plain], OptimConfig(lr=0.01, eps=1e-12))
    assert moves(no_warmup, plain.weight, 2) == pytest.approx([0.01, 0.01], rel=1e-5)


def test_a_checkpoint_taken_mid_warmup_continues_at_the_same_rates():
    cfg = OptimConfig(lr=0.01, eps=1e-12, warmup=4)
    layer = linear()
    opt = Optimizer([layer], cfg)
    moves(opt, layer.weight, 2)
    resumed_layer = linear(layer.weight.item())
    resumed = Optimizer([resumed_layer], cfg)
    resumed.load_state_dict(opt.state_dict())
    assert moves(resumed, resumed_layer.weight, 3) == pytest.approx(
        moves(opt, layer.weight, 3), rel=1e-5)
    assert resumed.updates == 5


def test_a_checkpoint_from_before_the_warmup_existed_loads_with_its_adam_steps():
    layer = linear()
    adam = torch.optim.Adam(layer.parameters(), lr=0.01)
    for _ in range(3):
        layer.weight.grad = torch.ones_like(layer.weight)
        adam.step()
    opt = Optimizer([linear()], OptimConfig(lr=0.01, warmup=10))
    opt.load_state_dict(adam.state_dict())  # what such a checkpoint holds for a group
    assert opt.updates == 3 and opt.rate() == pytest.approx(0.004)


def test_a_negative_warmup_is_refused_before_training():
    cfg = compose_config("train.model_opt.warmup=-1")
    with pytest.raises(ConfigError, match=r"train.model_opt.warmup=-1 is invalid: it must be "
                                          r">= 0"):
        validate(cfg)
