"""Bounded rounding: each dim clipped to [-1, 1] and rounded to L evenly spaced levels."""

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from agent.distributions import one_hot
from agent.errors import ConfigError
from agent.quantizers.base import Quantizer, QuantizerOutput, straight_through
from agent.quantizers.registry import register


@dataclass
class RoundOptions:
    name: str = "round"
    dims: int = 24
    """Code dims; each dim is one group (G = dims)."""
    levels: int = 5
    """Levels per dim (K = levels), evenly spaced on [-1, 1]."""


@register("round")
class Round(Quantizer):
    """Forward: `clip(z, -1, 1)` rounded to the nearest of L levels. Backward: identity
    where |z| <= 1 (the clip's gradient), so rounding is invisible to the gradient."""

    Options = RoundOptions
    one_hot_posterior = True
    bounded = True

    def __init__(self, embed_dim: int, options: RoundOptions):
        if options.levels < 2 or options.dims < 1:
            raise ConfigError(f"quantizer.levels must be >= 2 and quantizer.dims >= 1, got "
                              f"levels={options.levels}, dims={options.dims}")
        super().__init__(options.dims, options.levels, options.dims)
        self.proj = nn.Linear(embed_dim, options.dims)
        self.step = 2.0 / (options.levels - 1)

    def forward(self, e: Tensor) -> QuantizerOutput:
        z = self.proj(e).float().clamp(-1, 1)
        indices = torch.round((z.detach() + 1) / self.step).long().clamp(0, self.classes - 1)
        code = straight_through(self.indices_to_code(indices), z)
        error = (z.detach() - code.detach()).pow(2).sum(-1).mean()
        return self.output(code, indices, one_hot(indices, self.classes), error=error)

    def indices_to_code(self, indices: Tensor) -> Tensor:
        return indices.float() * self.step - 1.0
