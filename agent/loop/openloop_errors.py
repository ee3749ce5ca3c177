"""The open-loop prediction as numbers, logged at every log event under `model/`: from
STARTS replayed windows, observe a context, imagine from the prior (feeding the actions
taken) and score the imagined step `h` steps after the context:

    window      o_0 ... o_{c-1} | o_c      ...   o_{c+14}
    seen by     posterior (h)   | prior alone
    horizon                     | h = 1    ...   h = 15

    model/openloop_reward_mae_h{1,5,15}   |predicted reward - reward|
    model/openloop_obs_mse_h{1,5,15}      squared error per observation dimension (vectors on
                                          their own scale, images as pixel / 255), mean
                                          over keys

A (window, horizon) pair counts only while the episode seen in the context goes on: once a
new one starts (is_first) nothing could predict it. A horizon no window reaches (episodes
shorter than it) logs NaN, which metrics.jsonl writes as null.
"""

import numpy as np
import torch
from torch import Tensor

from agent.loop.openloop import OpenLoop, open_loop
from agent.loop.replay import Replay
from agent.model.world_model import WorldModel
from agent.seeds import own_randomness

HORIZONS = (1, 5, 15)
STARTS = 32


def context_steps(seq_len: int) -> int:
    """Replayed steps seen through the posterior before the prior runs alone: a quarter of
    a training window, so the rest of it holds the horizons."""
    return max(1, seq_len // 4)


def obs_squared_error(result: OpenLoop) -> Tensor:
    """[B, T]: per-dimension squared error, averaged within each key, then over keys."""
    errors = []
    for key, true in result.obs.items():
        pred = result.pred_obs[key]
        if pred.dtype == torch.uint8:  # image keys: compare on pixel / 255
            true, pred = true.float() / 255, pred.float() / 255
        errors.append((pred.float() - true.float()).pow(2).flatten(2).mean(-1))
    return torch.stack(errors).mean(0)


def open_loop_errors(result: OpenLoop, is_first: Tensor,
                     horizons: tuple[int, ...] = HORIZONS) -> dict[str, float]:
    """Errors at each horizon after the context; `is_first` [B, T] of the same windows."""
    c = result.context
    same_episode = is_first[:, c:].cumsum(1) == 0  # [B, T - c]
    reward = (result.pred_reward[:, c:].float() - result.reward[:, c:]).abs()
    obs = obs_squared_error(result)[:, c:]
    metrics = {}
    for h in horizons:
        reached = h <= reward.shape[1]
        valid = same_episode[:, h - 1] if reached else None
        for name, error in (("reward_mae", reward), ("obs_mse", obs)):
            metrics[f"model/openloop_{name}_h{h}"] = (
                error[valid, h - 1].mean().item() if reached and valid.any() else float("nan"))
    return metrics


def measure_open_loop(world_model: WorldModel, replay: Replay, rng: np.random.Generator,
                      context: int, device: torch.device) -> dict[str, float]:
    """The errors on STARTS windows drawn with `rng`; torch's RNG (prior samples) is
    restored afterwards, so training draws what it would have drawn without this."""
    length = context + max(HORIZONS)
    if not replay.can_sample(length):
        return {}
    with own_randomness(device):
        batch = replay.sample(STARTS, length, rng=rng).to(device)
        result = open_loop(world_model, batch, context)
    return open_loop_errors(result, batch.is_first)
