"""The actor's distribution over encoded actions, one per kind of action space.

Each turns the actor's raw outputs (`size` numbers per state) into samples, log-probabilities
and entropies of the encoded actions that envs.ActionCodec defines; REINFORCE needs only
these, for every kind (as in DreamerV3). Learning through the dynamics needs samples that
carry a gradient: reparameterised normals, straight-through one-hots.
"""

import math

import torch
from torch import Tensor

from agent.distributions import one_hot, sample_categorical, unimix_logits
from envs import ActionCodec


class Categoricals:
    """One categorical per segment (one for Discrete, one per dimension of MultiDiscrete),
    each with unimix; actions are the segments' one-hots, concatenated."""

    def __init__(self, segments: list[int], unimix: float):
        self.segments, self.unimix = segments, unimix
        self.size = sum(segments)

    def segment_logprobs(self, params: Tensor) -> list[Tensor]:
        """Each segment's log-probabilities (unimix applied), [..., n] per segment."""
        return [unimix_logits(p, self.unimix) for p in params.float().split(self.segments, -1)]

    def sample(self, params: Tensor, greedy: bool = False) -> Tensor:
        """One-hots of sampled (or, greedy, likeliest) classes. Where `params` carry a
        gradient (imagination for `ac.actor_grad=dynamics`) a sample passes the
        straight-through gradient of its probabilities, as Dreamer v2's discrete actions
        did: its value is the one-hot exactly."""
        parts = []
        for logp in self.segment_logprobs(params):
            action = one_hot(logp.argmax(-1) if greedy else sample_categorical(logp),
                             logp.shape[-1])
            if logp.requires_grad and not greedy:
                probs = logp.exp()
                action = action + (probs - probs.detach())
            parts.append(action)
        return torch.cat(parts, -1)

    def log_prob(self, params: Tensor, action: Tensor) -> Tensor:
        return sum((logp * a).sum(-1) for logp, a in
                   zip(self.segment_logprobs(params), action.split(self.segments, -1), strict=True))

    def entropy(self, params: Tensor) -> Tensor:
        return sum(-(logp.exp() * logp).sum(-1) for logp in self.segment_logprobs(params))


class BoundedNormal:
    """Independent normals per dimension with the mean squashed into [-1, 1] and the std
    bounded (DreamerV3's bounded normal). Samples are kept as drawn, so their
    log-probability is the normal's; the codec clips them to [-1, 1] on the way to the env
    (a clipped sample would need the tail mass, not the density). The greedy action is the
    mean."""

    MIN_STD, MAX_STD = 0.1, 1.0

    def __init__(self, dims: int):
        self.dims, self.size = dims, 2 * dims

    def _mean_std(self, params: Tensor) -> tuple[Tensor, Tensor]:
        mean, raw = params.float().chunk(2, -1)
        std = (self.MAX_STD - self.MIN_STD) * torch.sigmoid(raw + 2.0) + self.MIN_STD
        return torch.tanh(mean), std

    def sample(self, params: Tensor, greedy: bool = False) -> Tensor:
        mean, std = self._mean_std(params)
        return mean if greedy else mean + std * torch.randn_like(mean)

    def log_prob(self, params: Tensor, action: Tensor) -> Tensor:
        mean, std = self._mean_std(params)
        z = (action - mean) / std
        return (-0.5 * z.pow(2) - std.log() - 0.5 * math.log(2 * math.pi)).sum(-1)

    def entropy(self, params: Tensor) -> Tensor:
        _, std = self._mean_std(params)
        return (std.log() + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)


def make_policy(codec: ActionCodec, unimix: float) -> Categoricals | BoundedNormal:
    if codec.continuous:
        return BoundedNormal(codec.size)
    return Categoricals(codec.segments, unimix)
