"""What the actor does in the states a run has seen: per action, its mean probability and the
share of states where it is the greedy choice.

    python -m agent.analysis.policy_check RUN_DIR_OR_CHECKPOINT [--windows 64]
        [--seq-len N] [--seed 0]

A greedy evaluation plays the most probable action, training samples. When the two returns
part ways (a high greedy eval beside a low training return), this says why: a policy near
uniform (entropy close to its maximum) whose slight preference is the same in most states
plays that action always when greedy and little more than 1/n of the time when sampling
(n actions). The states are those of the replay (the sampling policy's and the random
prefill's), each inferred from its window with h started from zeros WARMUP steps earlier.
"""

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from agent.agent import Agent, evaluating
from agent.analysis.reward_check import WARMUP, check_command, sample_windows, seeded_posterior
from agent.behavior.policies import Categoricals
from agent.loop.replay import Replay


@dataclass
class PolicyCheck:
    steps: int                       # replayed states scored
    mean_probs: list[list[float]]    # per action segment, per action
    greedy_shares: list[list[float]]  # per segment, per action: states where it is the mode
    tied_shares: list[float]         # per segment: states with two or more modes
    entropy: float                   # mean over states, summed over segments (nats)
    max_entropy: float               # that of the uniform policy

    def lines(self) -> list[str]:
        out = [f"policy over {self.steps} replayed states: entropy {self.entropy:.3f} nats "
               f"(uniform: {self.max_entropy:.3f})"]
        for i, (probs, shares, tied) in enumerate(zip(self.mean_probs, self.greedy_shares,
                                                      self.tied_shares, strict=True)):
            name = f"segment {i}, " if len(self.mean_probs) > 1 else ""
            out += [f"  {name}action {a}: mean probability {p:.3f}, the greedy choice in "
                    f"{100 * s:.1f}% of states" for a, (p, s) in enumerate(zip(probs, shares,
                                                                               strict=True))]
            if tied:
                out.append(f"  {name}ties: {100 * tied:.1f}% of states have two or more most "
                           f"probable actions; greedy play takes the lowest-numbered there")
        return out


@torch.no_grad()
def check_policy(agent: Agent, replay: Replay, windows: int = 64, seq_len: int = 64,
                 seed: int = 0) -> PolicyCheck:
    """Score the actor on `windows` replayed windows (sample_windows), in the states the
    world model infers for them."""
    policy = agent.actor_critic.policy
    if not isinstance(policy, Categoricals):
        raise SystemExit("error: the policy check reads discrete actions (Discrete or "
                         "MultiDiscrete); this run's actions are continuous")
    batch = sample_windows(replay, windows, seq_len, seed)
    wm = agent.world_model
    with evaluating(agent), seeded_posterior(seed):
        states = wm.observe(batch.obs, batch.action, batch.is_first)
        params = agent.actor_critic.actor(wm.feat(states.h, states.quantized.code))
    params = params[:, WARMUP:].flatten(0, 1).float()  # h starts from zeros before WARMUP
    mean_probs, greedy_shares, tied_shares, entropy = [], [], [], 0.0
    for logp in policy.segment_logprobs(params):
        probs = logp.exp()
        greedy = torch.bincount(logp.argmax(-1), minlength=logp.shape[-1])  # as acting does
        mean_probs.append(probs.mean(0).tolist())
        greedy_shares.append((greedy / len(logp)).tolist())
        tied_shares.append(tied_share(probs))
        entropy += float(-(probs * logp).sum(-1).mean())
    return PolicyCheck(len(params), mean_probs, greedy_shares, tied_shares, entropy,
                       sum(math.log(n) for n in policy.segments))


def tied_share(probs: Tensor) -> float:
    """The share of states (rows) whose two most probable actions are exactly equally
    probable: there the greedy choice (argmax: the first) is an index's, not the policy's."""
    if probs.shape[-1] < 2:
        return 0.0
    top = probs.topk(2, dim=-1).values
    return float((top[:, 0] == top[:, 1]).float().mean())


if __name__ == "__main__":
    check_command(__doc__, check_policy)
