"""What the world model imagines: observe a few replayed steps, then predict the rest of
the sequence from the prior alone (feeding the actions that were really taken), and plot
the predicted observations and rewards against the true ones."""

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from agent.data import Batch, Obs
from agent.model.world_model import WorldModel


class OpenLoop(NamedTuple):
    obs: Obs           # {key: [B, T, *shape]} true
    pred_obs: Obs      # the same keys, reconstructed for t < context, imagined after
    reward: Tensor     # [B, T]
    pred_reward: Tensor
    context: int


@torch.no_grad()
def open_loop(world_model: WorldModel, batch: Batch, context: int) -> OpenLoop:
    """ObservedStates states for the first `context` steps, prior samples after them. The h of
    step t is f(h, c, a) of step t - 1, as in training (world_model.py)."""
    was_training = world_model.training
    world_model.eval()  # no quantizer state updates from a diagnostic
    try:
        observed = {k: v[:, :context] for k, v in batch.obs.items()}
        states = world_model.observe(observed, batch.action[:, :context],
                                     batch.is_first[:, :context])
        feats = [world_model.feat(states.h, states.quantized.code)]  # [B, context, F]
        actions = (batch.action[:, t - 1] for t in range(context, batch.action.shape[1]))
        for h, code in world_model.dream(states.h[:, -1], states.quantized.code[:, -1],
                                         actions):
            feats.append(world_model.feat(h, code)[:, None])
    finally:
        world_model.train(was_training)
    feat = torch.cat(feats, 1)
    return OpenLoop(batch.obs, world_model.decode(feat), batch.reward,
                    world_model.reward_mean(feat), context)


def plot_open_loop(result: OpenLoop, path: Path, max_dims: int = 8) -> Path:
    """One sequence: a panel per dimension of the vector keys (the first `max_dims`) and
    one for the reward, truth solid, prediction dashed, the end of the observed context
    marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [(f"{key}[{d}]", true[0, :, d], result.pred_obs[key][0, :, d])
              for key, true in result.obs.items() if true.dim() == 3
              for d in range(true.shape[-1])][:max_dims]
    series.append(("reward", result.reward[0], result.pred_reward[0]))
    fig, axes = plt.subplots(len(series), 1, figsize=(7, 1.4 * len(series)), sharex=True)
    steps = np.arange(result.reward.shape[1])
    for ax, (name, true, pred) in zip(np.atleast_1d(axes), series, strict=True):
        ax.plot(steps, true.cpu().numpy(), color="black", label="true")
        ax.plot(steps, pred.float().cpu().numpy(), color="tab:orange", linestyle="--",
                label="predicted")
        ax.axvline(result.context - 0.5, color="grey", linewidth=0.8)
        ax.set_ylabel(name, fontsize=8)
    axes_list = np.atleast_1d(axes)
    axes_list[0].legend(fontsize=7, loc="upper right")
    axes_list[0].set_title(f"open loop: {result.context} steps observed, the rest imagined",
                           fontsize=9)
    axes_list[-1].set_xlabel("step in the replayed sequence")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def open_loop_frames(result: OpenLoop, key: str, sequences: int = 3) -> np.ndarray:
    """An image key as video frames [T, rows * S, 3 * S, 3] uint8: per replayed sequence a
    row of truth | prediction | error (|truth - prediction|). Binary or many-channel
    images show the max over channels, one channel as gray."""
    true, pred = result.obs[key][:sequences], result.pred_obs[key][:sequences]
    error = (true.int() - pred.int()).abs().to(torch.uint8)
    rows = torch.cat([torch.cat([t, p, e], -1) for t, p, e in zip(true, pred, error,
                                                                   strict=True)], -2)
    rows = rows.cpu()  # [T, C, rows * S, 3 * S]
    if rows.shape[1] != 3:
        rows = rows.amax(1, keepdim=True).expand(-1, 3, -1, -1)
    return rows.permute(0, 2, 3, 1).contiguous().numpy()


def write_open_loop_video(result: OpenLoop, key: str, path: Path, fps: int = 8) -> Path:
    import imageio.v2 as imageio

    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimwrite(path, open_loop_frames(result, key), fps=fps, codec="libx264",
                     macro_block_size=1)
    return path
