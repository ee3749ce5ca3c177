"""Lookup-free quantization (MAGVIT-v2): signs of each dim, grouped into integer codes."""

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from agent.distributions import one_hot
from agent.errors import ConfigError
from agent.quantizers.base import Quantizer, QuantizerOutput, straight_through
from agent.quantizers.registry import register


@dataclass
class LFQOptions:
    name: str = "lfq"
    groups: int = 8
    """Groups G; each group's bits form one index."""
    bits: int = 7
    """Bits per group; K = 2 ** bits codes per group."""
    entropy_weight: float = 0.1
    """Weight of (per-sample entropy - batch entropy), which makes codes confident and
    their use spread out."""
    temperature: float = 1.0
    """Softness of the code distribution q(c | z) ∝ exp(-||z - c||^2 / temperature)."""


@register("lfq")
class LFQ(Quantizer):
    """Forward: sign(z) per dim, in {-1, +1}. Backward: identity (STE)."""

    Options = LFQOptions
    one_hot_posterior = True
    bounded = True

    def __init__(self, embed_dim: int, options: LFQOptions):
        if options.groups < 1 or not 1 <= options.bits <= 12:
            raise ConfigError(f"quantizer.groups must be >= 1 and quantizer.bits in [1, 12], "
                              f"got groups={options.groups}, bits={options.bits}")
        super().__init__(options.groups, 2 ** options.bits, options.groups * options.bits)
        self.opt = options
        self.proj = nn.Linear(embed_dim, self.code_dim)
        self.register_buffer("powers", 2 ** torch.arange(options.bits))
        # [K, bits]: the bits of every code, as 0/1
        codes = (torch.arange(self.classes)[:, None] // self.powers) % 2
        self.register_buffer("code_bits", codes.float())

    def forward(self, e: Tensor) -> QuantizerOutput:
        z = self.proj(e).float().unflatten(-1, (self.groups, self.opt.bits))  # [..., G, b]
        bits = (z.detach() > 0).long()
        indices = (bits * self.powers).sum(-1)
        code = straight_through(bits.float() * 2 - 1, z)
        losses = {}
        if self.opt.entropy_weight > 0 and self.training:
            losses["entropy"] = self.opt.entropy_weight * self.entropy_penalty(z)
        error = (z.detach() - code.detach()).pow(2).sum(-1).mean()
        return self.output(code.flatten(-2), indices, one_hot(indices, self.classes),
                           losses, error)

    def entropy_penalty(self, z: Tensor) -> Tensor:
        """Mean per-sample entropy minus the entropy of the batch-mean distribution, with
        q(c | z) ∝ exp(-||z - c||^2 / t), which factorises into sigmoid(4 z / t) per bit."""
        logit = 4 * z.reshape(-1, self.groups, self.opt.bits) / self.opt.temperature
        log_p1, log_p0 = nn.functional.logsigmoid(logit), nn.functional.logsigmoid(-logit)
        log_q = log_p1 @ self.code_bits.T + log_p0 @ (1 - self.code_bits).T  # [N, G, K]
        q = log_q.exp()
        sample_entropy = -(q * log_q).sum(-1).mean()
        mean_q = q.mean(0)
        batch_entropy = -torch.xlogy(mean_q, mean_q).sum(-1).mean()
        return sample_entropy - batch_entropy

    def indices_to_code(self, indices: Tensor) -> Tensor:
        bits = (indices.unsqueeze(-1) // self.powers) % 2
        return (bits.float() * 2 - 1).flatten(-2)
