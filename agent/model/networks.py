"""Small building blocks shared by the world model and the actor-critic."""

import torch
from torch import Tensor, nn


def scale_gradient(x: Tensor, scale: float) -> Tensor:
    """x in the forward pass (exactly); `scale` times its gradient in the backward pass."""
    if scale == 1:
        return x
    frozen = x.detach()
    if scale == 0:  # no backward at all: a non-finite gradient above cannot leak through
        return frozen
    return frozen + scale * (x - frozen)


def dense_block(inp: int, units: int) -> nn.Sequential:
    """Linear (no bias) -> LayerNorm -> SiLU: every hidden layer's shape here."""
    return nn.Sequential(nn.Linear(inp, units, bias=False), nn.LayerNorm(units), nn.SiLU())


def mlp(inp: int, units: int, layers: int, out: int | None = None,
        outscale: float = 1.0) -> nn.Sequential:
    """`layers` hidden blocks of Linear -> LayerNorm -> SiLU, then an optional linear output
    whose PyTorch-default initial weights and bias are multiplied by `outscale` (0: zeros)."""
    blocks: list[nn.Module] = []
    width = inp
    for _ in range(layers):
        blocks += list(dense_block(width, units))
        width = units
    if out is not None:
        head = nn.Linear(width, out)
        with torch.no_grad():
            head.weight.mul_(outscale)
            head.bias.mul_(outscale)
        blocks.append(head)
    return nn.Sequential(*blocks)
