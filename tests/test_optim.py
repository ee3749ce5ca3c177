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


def test_adaptive_clipping_cuts_each_tensor_to_its_share_of_the_weight_norm():
    layer = nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[3.0, 4.0]]))  # norm 5
        layer.bias.zero_()  # norm 0: measured against the floor, 1e-3
    opt = Optimizer([layer], OptimConfig(lr=0.01, agc=0.3))
    layer.weight.grad = torch.tensor([[6.0, 8.0]])  # norm 10, above 0.3 * 5 = 1.5
    layer.bias.grad = torch.tensor([2e-4])  # norm 2e-4, below 0.3 * 1e-3
    norm = opt.clip_gradients()
    assert norm.item() == pytest.approx((100 + 4e-8) ** 0.5)  # the norm before clipping
    assert layer.weight.grad[0].tolist() == pytest.approx([0.9, 1.2])  # 1.5 along the same way
    assert layer.bias.grad.tolist() == pytest.approx([2e-4])  # under its bound: untouched
    layer.bias.grad = torch.tensor([-1.0])
    opt.clip_gradients()
    assert layer.bias.grad.tolist() == pytest.approx([-3e-4])  # 0.3 * the floor


def test_without_adaptive_clipping_a_gradient_under_the_global_clip_is_untouched():
    layer = linear(1e-6)
    opt = Optimizer([layer], OptimConfig(lr=0.01))
    layer.weight.grad = torch.tensor([[50.0]])
    opt.clip_gradients()
    assert layer.weight.grad.item() == 50.0


def test_a_negative_agc_is_refused_before_training():
    cfg = compose_config("train.model_opt.agc=-0.3")
    with pytest.raises(ConfigError, match=r"train.model_opt.agc=-0.3 is invalid: it must be "
                                          r">= 0"):
        validate(cfg)
