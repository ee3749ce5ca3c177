"""Scale transforms and the output distributions of the heads and the policy."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def symlog(x: Tensor) -> Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: Tensor) -> Tensor:
    return torch.sign(x) * torch.expm1(x.abs())


def unimix_logits(logits: Tensor, mix: float) -> Tensor:
    """Log-probabilities of `(1 - mix) * softmax(logits) + mix / K` over the last axis.

    Mixing in a little uniform mass keeps every class reachable, so KL terms and
    log-probabilities stay finite (DreamerV3's 1% unimix).
    """
    if mix <= 0:
        return torch.log_softmax(logits, -1)
    probs = torch.softmax(logits, -1)
    probs = (1 - mix) * probs + mix / logits.shape[-1]
    return torch.log(probs)


class TwoHot(nn.Module):
    """A value as two neighbouring bins of a fixed grid on the symlog scale.

    The head outputs logits over `bins`; the value is `symexp(E[bin])`, the loss the
    cross-entropy against the two-hot encoding of `symlog(target)`.
    """

    def __init__(self, num_bins: int = 255, low: float = -20.0, high: float = 20.0):
        super().__init__()
        self.register_buffer("bins", torch.linspace(low, high, num_bins))

    def _neighbours(self, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Indices of the bins below and above symlog(value), and the upper bin's weight."""
        x = symlog(value).clamp(self.bins[0], self.bins[-1]).contiguous()
        upper = torch.searchsorted(self.bins, x, right=True).clamp(1, len(self.bins) - 1)
        lower = upper - 1
        lo, hi = self.bins[lower], self.bins[upper]
        return lower, upper, ((x - lo) / (hi - lo)).clamp(0, 1)

    def encode(self, value: Tensor) -> Tensor:
        """[...] real values -> [..., num_bins] weights summing to one."""
        lower, upper, w_hi = self._neighbours(value)
        weights = torch.zeros(*value.shape, len(self.bins), device=value.device)
        weights.scatter_(-1, lower.unsqueeze(-1), (1 - w_hi).unsqueeze(-1))
        weights.scatter_add_(-1, upper.unsqueeze(-1), w_hi.unsqueeze(-1))
        return weights

    def decode(self, weights: Tensor) -> Tensor:
        """[..., num_bins] probabilities -> [...] values, in fp32 even under bf16 autocast
        (a matmul there would round values near 300 to steps of 2, and the advantages and
        critic targets built from them with it)."""
        return symexp((weights.float() * self.bins).sum(-1))

    def mean(self, logits: Tensor) -> Tensor:
        return self.decode(torch.softmax(logits, -1))

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """Cross-entropy of logits [..., bins] against the two-hot code of target [...]."""
        return self.log_loss(torch.log_softmax(logits, -1), target)

    def log_loss(self, log_probs: Tensor, target: Tensor) -> Tensor:
        """The same from log-probabilities, so several targets can share one log_softmax.
        Only the two neighbouring bins are read: no dense two-hot tensor is built."""
        lower, upper, w_hi = self._neighbours(target)
        lp_lo = log_probs.gather(-1, lower.unsqueeze(-1)).squeeze(-1)
        lp_hi = log_probs.gather(-1, upper.unsqueeze(-1)).squeeze(-1)
        return -((1 - w_hi) * lp_lo + w_hi * lp_hi)


def categorical_kl(p: Tensor, log_q: Tensor) -> Tensor:
    """KL(p || q) over the last axis, with 0 log 0 = 0 so one-hot p works."""
    return (torch.xlogy(p, p) - p * log_q).sum(-1)


def sample_categorical(log_probs: Tensor) -> Tensor:
    """Indices [...] drawn from log-probabilities [..., K] by inverting the CDF: one uniform
    number per draw (not one per class, as Gumbel-max needs) and no host sync."""
    cdf = log_probs.exp().cumsum(-1)
    u = torch.rand_like(cdf[..., :1]) * cdf[..., -1:]
    return (cdf < u).sum(-1).clamp(max=log_probs.shape[-1] - 1)


def one_hot(indices: Tensor, classes: int, dtype=torch.float32) -> Tensor:
    return F.one_hot(indices, classes).to(dtype)
