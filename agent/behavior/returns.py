"""λ-returns and the percentile return normaliser of DreamerV3.

Along an imagined trajectory of H + 1 states (k = 0 is the replayed start state):

    state      s_0    s_1    s_2   ...  s_H
    action     a_0    a_1    a_2   ...        a_k sampled from the actor at s_k
    reward            r_1    r_2   ...  r_H   r_k predicted at s_k, for arriving there
    cont              c_1    c_2   ...  c_H   c_k: probability that s_k is not terminal
    value      v_0    v_1    v_2   ...  v_H

    R_H = v_H
    R_k = r_{k+1} + γ c_{k+1} ((1 - λ) v_{k+1} + λ R_{k+1})      for k = H-1 ... 0
"""

import torch
from torch import Tensor, nn


def lambda_return(reward: Tensor, cont: Tensor, value: Tensor, gamma: float,
                  lam: float | Tensor) -> Tensor:
    """reward, cont: [H, N] for steps 1..H; value: [H + 1, N] for steps 0..H; lam a number
    or [H, N] (λ_k for R_k: 0 bootstraps R_k on v_{k+1} alone).
    Returns R_0 .. R_{H-1}: [H, N]."""
    assert reward.shape == cont.shape and value.shape[0] == reward.shape[0] + 1
    at_least_fp32 = torch.promote_types(reward.dtype, torch.float32)  # bf16 would round
    reward, cont, value = (x.to(at_least_fp32) for x in (reward, cont, value))
    discount = gamma * cont
    lam = torch.as_tensor(lam, dtype=reward.dtype, device=reward.device).expand_as(reward)
    # What R_k adds to the bootstrapped part; computed for all k at once.
    base = reward + discount * (1 - lam) * value[1:]
    returns = []
    last = value[-1]
    for k in reversed(range(reward.shape[0])):
        last = base[k] + discount[k] * lam[k] * last
        returns.append(last)
    return torch.stack(returns[::-1])


def replay_lambda_return(reward: Tensor, cont: Tensor, is_first: Tensor, value: Tensor,
                         gamma: float, lam: float) -> tuple[Tensor, Tensor]:
    """λ-returns along replayed windows, of the real rewards, bootstrapped on `value`.

    All [T, N], time-major, as replay stores them: reward[t] received on arriving at obs t,
    cont[t] 0 where obs t is terminal, is_first[t] 1 where obs t starts an episode, value[t]
    the critic's at obs t. A window may hold the end of one episode and the start of the
    next: a return never runs across that boundary (the return of the obs before an
    episode's last obs, or before the window's last, bootstraps on that obs's value), and
    a step whose successor is another episode's has no target. Returns the targets of obs
    0 .. T-2 and their weights (0 for those without a target, and for terminal obs), both
    [T - 1, N]."""
    ends = torch.cat([is_first[2:], torch.ones_like(is_first[:1])])  # obs t+1 is a last
    returns = lambda_return(reward[1:], cont[1:], value, gamma, lam * (1 - ends))
    weight = (1 - is_first[1:]) * cont[:-1]
    return returns, weight


class ReturnNormalizer(nn.Module):
    """Scale = max(1, P_high - P_low) of λ-returns, tracked with an EMA.

    Dividing advantages by it makes the entropy bonus mean the same thing whether returns
    are in the hundreds or near zero, while small returns are not blown up.
    """

    def __init__(self, decay: float = 0.99, low: float = 5.0, high: float = 95.0):
        super().__init__()
        self.decay = decay
        self.register_buffer("quantiles", torch.tensor([low, high]) / 100)
        self.register_buffer("range", torch.zeros(2))
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def next_range(self, returns: Tensor) -> Tensor:
        """The [low, high] range after seeing `returns`, not yet kept (see `keep`)."""
        current = torch.quantile(returns.detach().flatten().float(), self.quantiles)
        mixed = self.decay * self.range + (1 - self.decay) * current
        return torch.where(self.initialised, mixed, current)

    @torch.no_grad()
    def keep(self, value_range: Tensor) -> None:
        self.range.copy_(value_range)
        self.initialised.fill_(True)

    def update(self, returns: Tensor) -> None:
        self.keep(self.next_range(returns))

    def scale(self, value_range: Tensor | None = None) -> Tensor:
        """max(1, high - low) of the kept range, or of `value_range`."""
        low, high = self.range if value_range is None else value_range
        return (high - low).clamp(min=1.0)
