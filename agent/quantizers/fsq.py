"""Finite scalar quantization (Mentzer et al. 2023): bound each dim, round to a fixed grid."""

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from agent.distributions import one_hot
from agent.errors import ConfigError
from agent.quantizers.base import Quantizer, QuantizerOutput, straight_through
from agent.quantizers.registry import register


@dataclass
class FSQOptions:
    name: str = "fsq"
    levels: list[int] = field(default_factory=lambda: [5, 5, 5])
    """Grid levels of each dim in a group; a group has K = prod(levels) codes."""
    groups: int = 8
    """Number of independent groups G; the code has G * len(levels) dims."""
    rep_temperature: float = 0.0
    """> 0: the posterior's gradient is that of a soft assignment of each dim to its grid
    levels (weights exp(-distance^2 / rep_temperature), distances in grid steps), so the
    representation loss pulls the encoder toward codes the prior predicts; the forward value
    stays one-hot. 0: a one-hot posterior without gradient, as every deterministic quantizer
    has (the representation loss then trains nothing). Measured: 0.5 halves the prior's
    loss on the memory probe, but collapses CartPole's pixel code to a single one
    (docs/results/env-targets.md)."""


@register("fsq")
class FSQ(Quantizer):
    """Per dim with L levels: `bounded = tanh(z + shift) * half_l - offset`, rounded with a
    straight-through estimator, rescaled to [-1, 1]. Odd L gives a grid symmetric around
    zero; even L shifts it by half a step so that it still has L points.
    """

    Options = FSQOptions
    bounded = True
    one_hot_posterior = True

    def __init__(self, embed_dim: int, options: FSQOptions):
        levels = torch.tensor(options.levels, dtype=torch.long)
        if len(levels) == 0 or (levels < 2).any():
            raise ConfigError(f"quantizer.levels must be a non-empty list of values >= 2, "
                              f"got {options.levels}")
        if options.groups < 1:
            raise ConfigError(f"quantizer.groups must be >= 1, got {options.groups}")
        if options.rep_temperature < 0:
            raise ConfigError(f"quantizer.rep_temperature must be >= 0 (0: off), got "
                              f"{options.rep_temperature}")
        self.rep_temperature = options.rep_temperature
        dims = len(options.levels)
        super().__init__(options.groups, int(levels.prod()), options.groups * dims)
        self.dims = dims
        self.proj = nn.Linear(embed_dim, self.code_dim)
        eps = 1e-3
        half_l = (levels - 1).float() * (1 + eps) / 2
        offset = torch.where(levels % 2 == 0, 0.5, 0.0)
        self.register_buffer("levels", levels)
        self.register_buffer("half_l", half_l)
        self.register_buffer("offset", offset)
        self.register_buffer("shift", torch.atanh(offset / half_l))
        self.register_buffer("half_width", (levels // 2).float())
        basis = torch.cumprod(torch.cat([torch.ones(1, dtype=torch.long), levels[:-1]]), 0)
        self.register_buffer("basis", basis)
        # Each class's digit per dim [d, K], and each dim's grid (its rounded values)
        # padded to the largest level count, the padding masked out of the softmax.
        classes = torch.arange(self.classes)
        self.register_buffer("class_digits", (classes.unsqueeze(0) // basis.unsqueeze(1))
                             % levels.unsqueeze(1), persistent=False)
        steps = torch.arange(int(levels.max())).float()
        self.register_buffer("grid", steps - self.half_width.unsqueeze(1), persistent=False)
        self.register_buffer("grid_padding", steps >= levels.unsqueeze(1), persistent=False)

    def bound(self, z: Tensor) -> Tensor:
        return torch.tanh(z + self.shift) * self.half_l - self.offset

    def forward(self, e: Tensor) -> QuantizerOutput:
        z = self.proj(e).float().unflatten(-1, (self.groups, self.dims))  # [..., G, d]
        bounded = self.bound(z)
        rounded = straight_through(bounded.round(), bounded)
        code = rounded / self.half_width
        # Clamped so that even a non-finite input gives indices in [0, K) (its loss is then
        # non-finite and the update is skipped, see Agent.train_step).
        digits = (rounded.detach() + self.half_width).long().clamp(min=0).minimum(self.levels - 1)
        indices = (digits * self.basis).sum(-1)  # [..., G]
        probs = one_hot(indices, self.classes)
        if self.rep_temperature > 0:
            probs = straight_through(probs, self.soft_assignment(bounded))
        error = ((bounded.detach() - rounded.detach()) / self.half_width).pow(2).sum(-1).mean()
        return self.output(code.flatten(-2), indices, probs, error=error)

    def soft_assignment(self, bounded: Tensor) -> Tensor:
        """[..., G, d] bounded values -> [..., G, K]: per dim a softmax over its levels of
        -distance^2 / temperature, the classes' probabilities their products over dims."""
        dist = (bounded.unsqueeze(-1) - self.grid).pow(2)  # [..., G, d, L]
        logits = (-dist / self.rep_temperature).masked_fill(self.grid_padding, -math.inf)
        log_soft = torch.log_softmax(logits, -1)
        digits = self.class_digits.expand(*log_soft.shape[:-1], -1)  # [..., G, d, K]
        return log_soft.gather(-1, digits).sum(-2).exp()

    def indices_to_code(self, indices: Tensor) -> Tensor:
        digits = (indices.unsqueeze(-1) // self.basis) % self.levels  # [..., G, d]
        code = (digits.float() - self.half_width) / self.half_width
        return code.flatten(-2)

    def extra_repr(self) -> str:
        return f"levels={self.levels.tolist()}, groups={self.groups}, bits={self.bits:.1f}"


