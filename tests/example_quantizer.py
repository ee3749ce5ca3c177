from dataclasses import dataclass

import torch
from torch import Tensor, nn

from agent.quantizers import Quantizer, QuantizerOutput, register, straight_through


@dataclass
class TernaryOptions:
    name: str = "ternary"
    dims: int = 16
    """Code dims; each dim is one group of K = 3 classes: -1, 0, +1."""


@register("ternary")
class Ternary(Quantizer):
    """Forward: tanh(z) rounded to -1, 0 or +1. Backward: the gradient of tanh(z)."""

    Options = TernaryOptions

    def __init__(self, embed_dim: int, options: TernaryOptions):
        super().__init__(groups=options.dims, classes=3, code_dim=options.dims)
        self.proj = nn.Linear(embed_dim, options.dims)

    def forward(self, e: Tensor) -> QuantizerOutput:
        soft = torch.tanh(self.proj(e).float())
        indices = soft.detach().round().long() + 1  # [..., G] in {0, 1, 2}
        code = straight_through(self.indices_to_code(indices), soft)
        return self.output(code, indices, nn.functional.one_hot(indices, 3).float())

    def indices_to_code(self, indices: Tensor) -> Tensor:
        return indices.float() - 1
