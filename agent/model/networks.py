"""Small building blocks shared by the world model and the actor-critic."""

from torch import nn


def mlp(inp: int, units: int, layers: int, out: int | None = None,
        zero_init_output: bool = False) -> nn.Sequential:
    """`layers` hidden blocks of Linear -> LayerNorm -> SiLU, then an optional linear output."""
    blocks: list[nn.Module] = []
    width = inp
    for _ in range(layers):
        blocks += [nn.Linear(width, units, bias=False), nn.LayerNorm(units), nn.SiLU()]
        width = units
    if out is not None:
        head = nn.Linear(width, out)
        if zero_init_output:
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        blocks.append(head)
    return nn.Sequential(*blocks)
