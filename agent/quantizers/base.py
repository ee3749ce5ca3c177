"""The one contract every quantizer keeps: G groups x K classes.

    out = quantizer(e)               e: [..., embed_dim] continuous embedding
    out.code     [..., code_dim]     forward: the discrete value; backward: the surrogate gradient
    out.indices  [..., G] long       in [0, K)
    out.probs    [..., G, K]         posterior over classes (one-hot if deterministic)
    out.losses   {name: scalar}      the quantizer's own terms, already weighted
    out.stats    {name: scalar}      codebook health, filled in training mode only
    quantizer.indices_to_code(indices) -> code   equals out.code for those indices (discrete
                                     quantizers only; imagination turns sampled indices
                                     into codes with it)

What the world model reads of a quantizer besides its output is declared here: `prior`
(what the dynamics predicts for the code), `bounded` and `has_codebook`. A continuous code
(the control arm) is a `ContinuousQuantizer`: it has no indices_to_code.

A quantizer is one `Quantizer` subclass with an `Options` dataclass, registered with
`@register("name")`; everything else (dynamics, heads, imagination) only sees this face.
"""

import math
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn


class QuantizerOutput(NamedTuple):
    code: Tensor
    indices: Tensor
    probs: Tensor
    losses: dict[str, Tensor]
    stats: dict[str, Tensor]


def straight_through(forward: Tensor, surrogate: Tensor) -> Tensor:
    """Value of `forward`, gradient of `surrogate`."""
    return surrogate + (forward - surrogate).detach()


class UsageWindow(nn.Module):
    """Which codes were hit in each of the last `window` training batches."""

    def __init__(self, groups: int, classes: int, window: int = 100):
        super().__init__()
        self.register_buffer("hits", torch.zeros(window, groups, classes, dtype=torch.bool))
        self.register_buffer("next", torch.zeros(1, dtype=torch.long))  # ring position
        self.register_buffer("last_counts", torch.zeros(groups, classes))

    def update(self, counts: Tensor) -> None:
        """counts: [G, K] hits of each code in this batch."""
        self.last_counts.copy_(counts)
        self.hits.index_copy_(0, self.next, (counts > 0).unsqueeze(0))
        self.next.add_(1).remainder_(self.hits.shape[0])

    def used(self) -> Tensor:
        """[G, K] bool: hit at least once in the window."""
        return self.hits.any(0)


PriorKind = Literal["discrete", "mse", "gaussian"]


class Quantizer(nn.Module):
    """Shared plumbing: sizes, usage window and the statistics of the contract."""

    groups: int
    classes: int
    code_dim: int
    prior: PriorKind = "discrete"
    """What the dynamics model predicts for this code: a K-way classifier per group
    ("discrete"), or, for a continuous code, the code itself as a point ("mse") or a
    Gaussian ("gaussian"); see agent/model/priors.py."""
    bounded: bool = False
    """True when every code lies in [-1, 1]; a continuous prior then squashes its
    prediction into that range too."""
    one_hot_posterior: bool = False
    """True where `probs` is one-hot in the forward pass (a deterministic quantizer): the
    representation loss is then the cross-entropy of the prior at the code (equal to the KL
    divergence, whose entropy term would have an infinite gradient at the zeros)."""
    has_codebook: bool = True
    """False where perplexity, utilisation and dead codes mean nothing (a continuous code):
    reports leave those columns empty."""

    def __init__(self, groups: int, classes: int, code_dim: int, window: int = 100):
        super().__init__()
        self.groups, self.classes, self.code_dim = groups, classes, code_dim
        self.usage = UsageWindow(groups, classes, window)

    def learned_state(self) -> dict[str, Tensor]:
        """Copies of what the forward pass learns outside the optimizer (VQ's EMA codebook),
        so that a skipped update can put it back (`restore`); empty for most quantizers."""
        return {}

    def restore(self, state: dict[str, Tensor]) -> None:
        for name, value in state.items():
            getattr(self, name).copy_(value)

    @property
    def bits(self) -> float:
        """Information capacity of one code, G * log2(K)."""
        return self.groups * math.log2(self.classes)

    def indices_to_code(self, indices: Tensor) -> Tensor:
        """[..., G] indices in [0, K) -> [..., code_dim] the code they stand for."""
        raise NotImplementedError

    def output(self, code: Tensor, indices: Tensor, probs: Tensor,
               losses: dict[str, Tensor] | None = None,
               error: Tensor | None = None) -> QuantizerOutput:
        """Pack the contract, adding codebook statistics when training."""
        stats: dict[str, Tensor] = {}
        if self.training:
            stats = self.codebook_stats(indices.detach())
            if error is not None:
                stats["quant_error"] = error.detach()
        return QuantizerOutput(code, indices, probs, losses or {}, stats)

    def codebook_stats(self, indices: Tensor) -> dict[str, Tensor]:
        """Perplexity, used bits, utilisation and dead codes of a batch of indices [..., G]."""
        flat = indices.reshape(-1, self.groups)
        counts = torch.zeros(self.groups, self.classes, device=flat.device)
        counts.scatter_add_(1, flat.T, torch.ones_like(flat.T, dtype=counts.dtype))
        self.usage.update(counts)
        p = counts / flat.shape[0]
        entropy = -torch.xlogy(p, p).sum(-1)  # [G] nats
        used = self.usage.used().float()
        return {
            "perplexity": entropy.exp().mean(),
            "perplexity_frac": entropy.exp().mean() / self.classes,
            "used_bits": entropy.sum() / math.log(2),
            "utilisation": used.mean(),
            "dead_codes": (1 - used).sum(-1).mean(),
        }


class ContinuousQuantizer(Quantizer):
    """A code that is not quantized (the control arm): the contract's shapes with K = 1 and
    no codebook. The dynamics predict the code itself, so there are no indices to decode."""

    prior: Literal["mse", "gaussian"] = "mse"
    has_codebook = False

    def indices_to_code(self, indices: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has a continuous code: imagination "
                                  f"samples it from the continuous prior, not from indices")
