"""Rolling the prior forward in code space: no observations, and no gradients unless the
actor learns through the dynamics (`ac.actor_grad=dynamics`).

    s_0 (replayed, detached) --a_0--> h_1 = f(h_0, c_0, a_0), idx_1 ~ prior(h_1),
    c_1 = quantizer.indices_to_code(idx_1), s_1 = [h_1, c_1] --a_1--> ... s_H
(the continuous control arm samples c_1 from its continuous prior instead).
"""

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from agent.model.world_model import WorldModel


class Trajectory(NamedTuple):
    feat: Tensor    # [H + 1, N, feat_dim]  states s_0 .. s_H
    action: Tensor  # [H, N, act_dim]       a_k taken at s_k


Policy = Callable[[Tensor], Tensor]


def dream(world_model: WorldModel, policy: Policy, h: Tensor, code: Tensor, feat: Tensor
          ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One imagined step from s = [h, code] (feat is its features): the action taken there,
    and the next h, code and features."""
    action = policy(feat)
    h = world_model.step(h, code, action)
    code = world_model.sample_code(h)
    return action, h, code, world_model.feat(h, code)


def imagine(world_model: WorldModel, policy: Policy, h: Tensor, code: Tensor, horizon: int,
            step: Callable = dream, grad: bool = False) -> Trajectory:
    """Start states h [N, deter], code [N, code_dim]; policy maps features to actions.
    `step` is `dream` or a compiled `dream`; with `grad` the trajectory keeps its graph (each
    state depends on the actions before it through h and its sampled code)."""
    with torch.set_grad_enabled(grad):
        feats, actions = [world_model.feat(h, code)], []
        for _ in range(horizon):
            action, h, code, feat = step(world_model, policy, h, code, feats[-1])
            feats.append(feat)
            actions.append(action)
        return Trajectory(torch.stack(feats), torch.stack(actions))
