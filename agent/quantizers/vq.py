"""Vector quantization (van den Oord et al. 2017): nearest codebook vector per head."""

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from agent.distributions import one_hot
from agent.errors import ConfigError
from agent.quantizers.base import Quantizer, QuantizerOutput, straight_through
from agent.quantizers.registry import register


@dataclass
class VQOptions:
    name: str = "vq"
    heads: int = 8
    """Number of heads G, each with its own codebook."""
    codebook_size: int = 128
    """Codes per head K."""
    dim: int = 4
    """Dims of one code vector; the code has heads * dim dims."""
    beta: float = 0.25
    """Commitment weight: beta * ||z - sg(q)||^2."""
    ema: bool = True
    """Update the codebook by EMA of assigned vectors; False learns it with a codebook loss."""
    decay: float = 0.99
    """EMA decay of code counts and sums."""
    restart_below: float = 2.0
    """A code whose EMA count falls below this is restarted from a vector of the batch
    (its count then starts at twice this)."""
    estimator: str = "ste"
    """Gradient past the lookup: `ste` copies it (z + sg(q - z)); `rotation` rotates it
    with the rotation that takes z onto q (Fifty et al. 2025)."""
    cosine: bool = False
    """Look up and emit l2-normalised vectors (cosine similarity instead of distance)."""


@register("vq")
class VQ(Quantizer):
    """Forward: the nearest code vector. Backward: straight-through `z + sg(q - z)`, or the
    rotation trick. `dim` is the lookup dimension, independent of the embedding size, so a
    small `dim` gives the low-dimensional lookup of factorised codebooks."""

    Options = VQOptions
    one_hot_posterior = True

    def __init__(self, embed_dim: int, options: VQOptions):
        if options.heads < 1 or options.codebook_size < 1 or options.dim < 1:
            raise ConfigError(f"quantizer.heads, codebook_size and dim must be >= 1, got "
                              f"{options.heads}, {options.codebook_size}, {options.dim}")
        if options.estimator not in ("ste", "rotation"):
            raise ConfigError(f"quantizer.estimator={options.estimator!r} is not known; use "
                              f"ste or rotation")
        if not 0 < options.decay < 1:
            raise ConfigError(f"quantizer.decay must be in (0, 1), got {options.decay}")
        super().__init__(options.heads, options.codebook_size, options.heads * options.dim)
        self.opt = options
        self.proj = nn.Linear(embed_dim, self.code_dim)
        self.register_buffer("restarted", torch.zeros(()))
        codebook = self.normalise(torch.randn(options.heads, options.codebook_size, options.dim))
        if options.ema:
            self.register_buffer("codebook", codebook)
            self.register_buffer("ema_count", torch.full(codebook.shape[:2], options.restart_below))
            self.register_buffer("ema_sum", codebook * options.restart_below)
        else:
            self.codebook = nn.Parameter(codebook)

    def learned_state(self) -> dict[str, Tensor]:
        if not self.opt.ema:
            return {}
        return {name: getattr(self, name).clone()
                for name in ("codebook", "ema_count", "ema_sum", "restarted")}

    def forward(self, e: Tensor) -> QuantizerOutput:
        z = self.normalise(self.proj(e).float().unflatten(-1, (self.groups, self.opt.dim)))
        flat = z.reshape(-1, self.groups, self.opt.dim)  # [N, G, d]
        codebook = self.normalise(self.codebook)
        dist = (flat.pow(2).sum(-1, keepdim=True)
                - 2 * torch.einsum("ngd,gkd->ngk", flat, codebook)
                + codebook.pow(2).sum(-1).unsqueeze(0))
        flat_idx = dist.argmin(-1)  # [N, G]
        indices = flat_idx.reshape(z.shape[:-1])
        q = self.indices_to_code(indices).unflatten(-1, (self.groups, self.opt.dim))
        losses = {"commit": self.opt.beta * (z - q.detach()).pow(2).sum(-1).mean()}
        if not self.opt.ema:
            losses["codebook"] = (z.detach() - q).pow(2).sum(-1).mean()
        elif self.training:
            self.ema_update(flat.detach(), flat_idx)
        surrogate = rotate_onto(z, q.detach()) if self.opt.estimator == "rotation" else z
        code = straight_through(q.detach(), surrogate)
        error = (z.detach() - q.detach()).pow(2).sum(-1).mean()
        out = self.output(code.flatten(-2), indices, one_hot(indices, self.classes), losses, error)
        if self.training and self.opt.ema:
            out.stats["restarted_codes"] = self.restarted
        return out

    @torch.no_grad()
    def ema_update(self, flat: Tensor, flat_idx: Tensor) -> None:
        """EMA of counts and sums with Laplace smoothing, then restart of dead codes."""
        if not torch.isfinite(flat).all():  # keep the codebook rather than poison it
            return
        hits = one_hot(flat_idx, self.classes)  # [N, G, K]
        decay = self.opt.decay
        self.ema_count.mul_(decay).add_(hits.sum(0), alpha=1 - decay)
        self.ema_sum.mul_(decay).add_(torch.einsum("ngk,ngd->gkd", hits, flat), alpha=1 - decay)
        total = self.ema_count.sum(-1, keepdim=True)
        smoothed = (self.ema_count + 1e-5) / (total + self.classes * 1e-5) * total
        self.codebook.copy_(self.ema_sum / smoothed.unsqueeze(-1))
        dead = (self.ema_count < self.opt.restart_below).unsqueeze(-1)  # [G, K, 1]
        pick = torch.randint(flat.shape[0], (self.groups, self.classes), device=flat.device)
        fresh = flat[pick, torch.arange(self.groups, device=flat.device).unsqueeze(-1)]
        self.restarted.copy_(dead.sum() / self.groups)
        # A restarted code starts at twice the threshold: a grace period of several batches
        # to win hits before it can be restarted again.
        grace = 2 * self.opt.restart_below
        self.codebook.copy_(torch.where(dead, fresh, self.codebook))
        self.ema_sum.copy_(torch.where(dead, fresh * grace, self.ema_sum))
        self.ema_count.copy_(torch.where(dead.squeeze(-1), grace, self.ema_count))

    def normalise(self, x: Tensor) -> Tensor:
        return nn.functional.normalize(x, dim=-1) if self.opt.cosine else x

    def indices_to_code(self, indices: Tensor) -> Tensor:
        """indices [..., G] -> code [..., G * dim]."""
        heads = torch.arange(self.groups, device=indices.device)
        return self.normalise(self.codebook[heads, indices]).flatten(-2)


def rotate_onto(z: Tensor, q: Tensor, eps: float = 1e-8) -> Tensor:
    """`s * R z` with R the rotation taking z's direction onto q's (in the plane of both) and
    s = |q| / |z|, both held constant: equal to q in value, with gradient s R^T g."""
    z_norm = z.detach().norm(dim=-1, keepdim=True).clamp_min(eps)
    q_norm = q.norm(dim=-1, keepdim=True).clamp_min(eps)
    u, v = z.detach() / z_norm, q / q_norm
    w = nn.functional.normalize(u + v, dim=-1, eps=eps)
    # R = I - 2 w w^T + 2 v u^T
    rotated = z - 2 * w * (w * z).sum(-1, keepdim=True) + 2 * v * (u * z).sum(-1, keepdim=True)
    return rotated * (q_norm / z_norm)
