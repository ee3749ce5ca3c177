"""Binary codes: the sign of each dim."""

from dataclasses import dataclass

from torch import Tensor, nn

from agent.distributions import one_hot
from agent.errors import ConfigError
from agent.quantizers.base import Quantizer, QuantizerOutput, straight_through
from agent.quantizers.registry import register


@dataclass
class BinaryOptions:
    name: str = "binary"
    bits: int = 56
    """Code dims, each one bit (G = bits, K = 2)."""
    gate: bool = True
    """Pass gradient only where |z| <= 1 (the hard-tanh STE), else everywhere."""
    commitment: float = 0.0
    """Weight of ||z - sg(sign z)||^2, pulling z toward the code; 0 disables it."""


@register("binary")
class Binary(Quantizer):
    """Forward: sign(z) in {-1, +1} (index 1 for +1). Backward: identity, or identity
    gated by |z| <= 1 when `gate`."""

    Options = BinaryOptions
    one_hot_posterior = True
    bounded = True

    def __init__(self, embed_dim: int, options: BinaryOptions):
        if options.bits < 1:
            raise ConfigError(f"quantizer.bits must be >= 1, got {options.bits}")
        super().__init__(options.bits, 2, options.bits)
        self.opt = options
        self.proj = nn.Linear(embed_dim, options.bits)

    def forward(self, e: Tensor) -> QuantizerOutput:
        z = self.proj(e).float()
        indices = (z.detach() > 0).long()
        surrogate = z.clamp(-1, 1) if self.opt.gate else z
        code = straight_through(self.indices_to_code(indices), surrogate)
        losses = {}
        if self.opt.commitment > 0:
            losses["commit"] = self.opt.commitment * (z - code.detach()).pow(2).sum(-1).mean()
        error = (z.detach() - code.detach()).pow(2).sum(-1).mean()
        return self.output(code, indices, one_hot(indices, 2), losses, error)

    def indices_to_code(self, indices: Tensor) -> Tensor:
        return indices.float() * 2 - 1
