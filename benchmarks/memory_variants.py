"""Variants of the world model and of replay sampling that the memory probe measures
(benchmarks/memory_probe.py). They patch a built agent or replay for one benchmark run;
none is part of the agent, since none has yet been shown to help the agent."""

import types

import numpy as np
import torch
from torch import Tensor, nn

from agent.agent import Agent
from agent.data import Batch
from agent.distributions import symexp, symlog
from agent.loop.replay import Replay
from agent.model.networks import mlp, scale_gradient
from agent.optim import Optimizer


class SymlogSquaredError(nn.Module):
    """A one-output reward head read on the symlog scale, in place of the two-hot one."""

    def mean(self, out: Tensor) -> Tensor:
        return symexp(out.squeeze(-1))

    def loss(self, out: Tensor, target: Tensor) -> Tensor:
        return (out.squeeze(-1) - symlog(target)).pow(2)


def use_symlog_mse_reward_head(agent: Agent) -> None:
    """Replace the world model's two-hot reward head by a symlog-MSE one (PyTorch's default
    init) and rebuild the model optimizer over the new parameters."""
    wm, m = agent.world_model, agent.cfg.model
    wm.reward = mlp(wm.feat_dim, m.units, m.layers, out=1)
    wm.twohot = SymlogSquaredError()
    agent.optimizers.by_name["model"] = Optimizer([wm], agent.cfg.train.model_opt)


def sample_from_episode_starts(replay: Replay) -> None:
    """Make `replay.sample` start every window at an episode's first step, so that h never
    starts from zeros in the middle of an episode (what replay context would give)."""
    firsts = [np.nonzero(replay.is_first[e, :replay.written].numpy())[0]
              for e in range(replay.num_envs)]  # the replay no longer grows

    def sample(self: Replay, batch_size: int, seq_len: int, rng=None) -> Batch:
        rng = rng or self.rng
        starts = [f[f <= self.written - seq_len] for f in firsts]
        env = rng.integers(self.num_envs, size=batch_size)
        start = np.array([rng.choice(starts[e]) for e in env])
        env_t = torch.from_numpy(env[:, None])
        steps_t = torch.from_numpy(start[:, None] + np.arange(seq_len))
        return Batch({k: v[env_t, steps_t] for k, v in self.obs.items()},
                     *(x[env_t, steps_t] for x in
                       (self.action, self.reward, self.is_first, self.cont)))
    assert replay.written <= replay.length, "only for a replay that has not wrapped around"
    replay.sample = types.MethodType(sample, replay)


class NormalisedGRUCell(nn.Module):
    """DreamerV3's recurrent cell: one linear layer on [x, h], LayerNorm, and an update gate
    biased toward keeping h (sigmoid(u - 1)); called like nn.GRUCell(x, h)."""

    def __init__(self, inp: int, size: int):
        super().__init__()
        self.linear = nn.Linear(inp + size, 3 * size, bias=False)
        self.norm = nn.LayerNorm(3 * size)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        reset, cand, update = self.norm(self.linear(torch.cat([x, h], -1))).chunk(3, -1)
        cand = torch.tanh(torch.sigmoid(reset) * cand)
        update = torch.sigmoid(update - 1)
        return update * cand + (1 - update) * h


def use_normalised_gru(agent: Agent) -> None:
    """Replace the world model's nn.GRUCell by NormalisedGRUCell and rebuild the model
    optimizer over the new parameters."""
    wm = agent.world_model
    wm.gru = NormalisedGRUCell(wm.gru.input_size, wm.gru.hidden_size)
    agent.optimizers.by_name["model"] = Optimizer([wm], agent.cfg.train.model_opt)


class GradientIntoH(nn.Module):
    """A head on [h, ...] whose gradient into h is multiplied by `scale` (0: h is detached
    for this head; 1: as trained). Its forward value and its own gradients are unchanged."""

    def __init__(self, head: nn.Module, deter: int, scale: float):
        super().__init__()
        self.head, self.deter, self.scale = head, deter, scale

    def forward(self, x: Tensor) -> Tensor:
        h, rest = x[..., :self.deter], x[..., self.deter:]
        return self.head(torch.cat([scale_gradient(h, self.scale), rest], -1))


def scale_gradient_into_h(agent: Agent, head: str, scale: float) -> None:
    """Let the world model's `head` ('prior', 'decoder' or 'cont') pass only `scale` of its
    gradient into h: what each head's pressure on h does to a cue only the reward needs.
    (For the prior, `model.prior_grad_into_h` is the config option that does the same; with
    both, the two shares multiply.)"""
    wm = agent.world_model
    setattr(wm, head, GradientIntoH(getattr(wm, head), wm.deter, scale))
