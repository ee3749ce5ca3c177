"""What the dynamics model predicts about the next code, and how it is scored and sampled.

Discrete quantizers get a K-way classifier per group (the G x K contract); the continuous
control arm (`none`) gets a Gaussian or a point prediction of the code itself. Both give
per-sample dynamics and representation terms before free bits:

    dyn = D(sg(posterior), prior)   trains the prior toward the codes
    rep = D(posterior, sg(prior))   pulls the posterior toward what is predictable
"""

import math

import torch
from torch import Tensor

from agent.distributions import categorical_kl, sample_categorical, unimix_logits
from agent.quantizers import Quantizer, QuantizerOutput


class DiscretePrior:
    """G categorical distributions over K classes; D is the KL divergence."""

    is_divergence = True  # D >= 0, so free bits ("no gradient below n nats") apply

    def __init__(self, quantizer: Quantizer, unimix: float):
        self.quantizer, self.unimix = quantizer, unimix
        self.size = quantizer.groups * quantizer.classes

    def logprobs(self, params: Tensor) -> Tensor:
        """[..., G * K] head outputs -> [..., G, K] log-probabilities (with unimix)."""
        q = self.quantizer
        return unimix_logits(params.float().unflatten(-1, (q.groups, q.classes)), self.unimix)

    def losses(self, post: QuantizerOutput, params: Tensor) -> tuple[Tensor, Tensor]:
        prior = self.logprobs(params)
        dyn = categorical_kl(post.probs.detach(), prior).sum(-1)
        if self.quantizer.one_hot_posterior:  # the same value, and a finite gradient
            rep = -(post.probs * prior.detach()).sum((-2, -1))
        else:
            rep = categorical_kl(post.probs, prior.detach()).sum(-1)
        return dyn, rep

    def sample(self, params: Tensor) -> Tensor:
        """A code of sampled indices. Where `params` carry a gradient (imagination for
        `ac.actor_grad=dynamics`) it passes the straight-through gradient of the expected
        code under the prior, as Dreamer v2 did for its categoricals."""
        logprobs = self.logprobs(params)
        code = self.quantizer.indices_to_code(sample_categorical(logprobs))
        if not logprobs.requires_grad:
            return code
        expected = self.expected_code(logprobs.exp())
        return code + (expected - expected.detach())  # code's value exactly: code + 0

    def expected_code(self, probs: Tensor) -> Tensor:
        """The mean code under per-group class probabilities [..., G, K]. Every quantizer's
        code is its groups' parts side by side, each part set by that group's index alone,
        so the mean is each group's probability-weighted table of parts."""
        q = self.quantizer
        every_class = torch.arange(q.classes, device=probs.device).expand(q.groups, -1).T
        table = q.indices_to_code(every_class).unflatten(-1, (q.groups, -1))  # [K, G, d]
        return torch.einsum("...gk,kgd->...gd", probs, table.to(probs.dtype)).flatten(-2)

    def likeliest(self, params: Tensor) -> Tensor:
        """The code of each group's most probable class."""
        return self.quantizer.indices_to_code(self.logprobs(params).argmax(-1))


class ContinuousPrior:
    """A Gaussian over the code (D = negative log-likelihood), or with `gaussian=False` a
    point prediction (D = squared error). Neither is a divergence (an NLL can be negative),
    so free bits do not apply. For a code bounded to [-1, 1] the prediction is too."""

    MIN_STD = 0.1
    is_divergence = False

    def __init__(self, quantizer: Quantizer, gaussian: bool, bounded: bool):
        self.code_dim, self.gaussian, self.bounded = quantizer.code_dim, gaussian, bounded
        self.size = self.code_dim * (2 if gaussian else 1)

    def _mean_std(self, params: Tensor) -> tuple[Tensor, Tensor | None]:
        mean, raw = params.float().chunk(2, -1) if self.gaussian else (params.float(), None)
        if self.bounded:
            mean = torch.tanh(mean)
        if raw is None:
            return mean, None
        return mean, self.MIN_STD + (1 - self.MIN_STD) * torch.sigmoid(raw)

    def _distance(self, code: Tensor, mean: Tensor, std: Tensor | None) -> Tensor:
        if std is None:
            return (code - mean).pow(2).sum(-1)
        nll = 0.5 * ((code - mean) / std).pow(2) + std.log() + 0.5 * math.log(2 * math.pi)
        return nll.sum(-1)

    def losses(self, post: QuantizerOutput, params: Tensor) -> tuple[Tensor, Tensor]:
        mean, std = self._mean_std(params)
        dyn = self._distance(post.code.detach(), mean, std)
        rep = self._distance(post.code, mean.detach(), None if std is None else std.detach())
        return dyn, rep

    def sample(self, params: Tensor) -> Tensor:
        mean, std = self._mean_std(params)
        if std is None:
            return mean
        code = mean + std * torch.randn_like(mean)
        return code.clamp(-1, 1) if self.bounded else code

    def likeliest(self, params: Tensor) -> Tensor:
        """The mean (a Gaussian's mode)."""
        return self._mean_std(params)[0]


def make_prior(quantizer: Quantizer, unimix: float) -> DiscretePrior | ContinuousPrior:
    if quantizer.prior != "discrete":
        return ContinuousPrior(quantizer, gaussian=quantizer.prior == "gaussian",
                               bounded=quantizer.bounded)
    return DiscretePrior(quantizer, unimix)
