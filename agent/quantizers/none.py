"""No quantization: the continuous control arm of every ablation."""

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from agent.errors import ConfigError
from agent.quantizers.base import ContinuousQuantizer, QuantizerOutput
from agent.quantizers.registry import register


@dataclass
class NoneOptions:
    name: str = "none"
    dims: int = 24
    """Dims of the continuous code."""
    prior: str = "mse"
    """What the dynamics predicts: `mse` (a point, squared error) or `gaussian` (NLL)."""
    bound: bool = True
    """Squash the code into [-1, 1] with tanh, like the grid quantizers' range."""


@register("none")
class NoQuantizer(ContinuousQuantizer):
    """code = (tanh) proj(e), continuous, with exact gradients. It keeps the contract's
    shapes with K = 1 (G = dims, one class each, zero bits); the world model predicts the
    code itself (`prior`: mse or gaussian) instead of G x K classes."""

    Options = NoneOptions

    def __init__(self, embed_dim: int, options: NoneOptions):
        if options.prior not in ("mse", "gaussian"):
            raise ConfigError(f"quantizer.prior={options.prior!r} is not known; use mse or "
                              f"gaussian")
        if options.dims < 1:
            raise ConfigError(f"quantizer.dims must be >= 1, got {options.dims}")
        super().__init__(options.dims, 1, options.dims)
        self.prior = options.prior
        self.bounded = options.bound
        self.proj = nn.Linear(embed_dim, options.dims)

    def forward(self, e: Tensor) -> QuantizerOutput:
        code = self.proj(e).float()
        if self.bounded:
            code = torch.tanh(code)
        indices = torch.zeros(*code.shape, dtype=torch.long, device=code.device)
        return self.output(code, indices, torch.ones(*code.shape, 1, device=code.device))
