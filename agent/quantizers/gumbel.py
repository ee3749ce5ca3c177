"""Straight-through Gumbel-softmax (Jang et al. 2017) with an annealed temperature."""

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from agent.distributions import one_hot
from agent.errors import ConfigError
from agent.quantizers.base import Quantizer, QuantizerOutput, straight_through
from agent.quantizers.registry import register


@dataclass
class GumbelOptions:
    name: str = "gumbel"
    groups: int = 16
    classes: int = 16
    temp_start: float = 1.0
    temp_end: float = 0.5
    temp_decay: float = 1e-4
    """Temperature after n updates: max(temp_end, temp_start * exp(-temp_decay * n))."""


@register("gumbel")
class Gumbel(Quantizer):
    """Forward: one-hot of argmax(logits + g). Backward: the gradient of the soft sample
    softmax((logits + g) / τ), with the same Gumbel noise g."""

    Options = GumbelOptions
    bounded = True

    def __init__(self, embed_dim: int, options: GumbelOptions):
        if options.groups < 1 or options.classes < 2:
            raise ConfigError(f"quantizer.groups must be >= 1 and quantizer.classes >= 2, got "
                              f"{options.groups}, {options.classes}")
        if not 0 < options.temp_end <= options.temp_start:
            raise ConfigError(f"quantizer temperatures need 0 < temp_end <= temp_start, got "
                              f"{options.temp_end}, {options.temp_start}")
        super().__init__(options.groups, options.classes, options.groups * options.classes)
        self.opt = options
        self.proj = nn.Linear(embed_dim, self.code_dim)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def temperature(self) -> Tensor:
        o = self.opt
        decayed = o.temp_start * torch.exp(-o.temp_decay * self.updates.float())
        return decayed.clamp(min=o.temp_end)

    def forward(self, e: Tensor) -> QuantizerOutput:
        logits = self.proj(e).float().unflatten(-1, (self.groups, self.classes))
        noise = -torch.log(-torch.log(torch.rand_like(logits).clamp_min(1e-20)))
        tau = self.temperature()
        soft = torch.softmax((logits + noise) / tau, -1)
        indices = soft.detach().argmax(-1)
        code = straight_through(one_hot(indices, self.classes), soft)
        out = self.output(code.flatten(-2), indices, torch.softmax(logits, -1))
        if self.training:
            self.updates.add_(1)
            out.stats["temperature"] = tau.detach()
        return out

    def indices_to_code(self, indices: Tensor) -> Tensor:
        return one_hot(indices, self.classes).flatten(-2)


