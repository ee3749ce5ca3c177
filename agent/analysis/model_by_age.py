"""How well a checkpoint's world model fits its replay, by when each step was collected.

    python -m agent.analysis.model_by_age RUN_DIR_OR_CHECKPOINT [--every 5000]
        [--windows 16] [--seq-len 64] [--frames]

When a run's dynamics loss jumps, either the newest data is new to the model (the losses
rise on the latest steps only) or the model itself moved (they rise on steps of every
age). Run it on a checkpoint before the jump and one after: per window of env steps, the
world model (in eval mode) observes `--windows` runs of `--seq-len` consecutive replayed
steps from that window and scores its reconstruction loss and its dynamics loss (the
prior's divergence from the posterior, before free bits), the first steps of each run left
out (h starts from zeros there). Windows as in agent.analysis.windows: (0, every] is
labelled `every`; --frames counts env frames (action repeat).
"""

import torch
from torch import Tensor

from agent.agent import Agent, evaluating
from agent.analysis.replay_obs import checked_state, step_of_slot, window_labels, window_parser
from agent.analysis.reward_check import WARMUP, seeded_posterior
from agent.analysis.windows import table
from agent.data import Batch
from agent.loop.evaluate import agent_from_checkpoint


def runs_at(replay: dict, streams: Tensor, starts: Tensor, seq_len: int) -> Batch:
    """Runs of `seq_len` consecutive steps from the replay's ring, one per (stream, first
    step); steps count per stream from 0, and step s lives in slot s % kept."""
    kept = replay["reward"].shape[1]
    at = (streams[:, None], (starts[:, None] + torch.arange(seq_len)) % kept)
    return Batch({k: v[at] for k, v in replay["obs"].items()},
                 *(replay[k][at].float() for k in ("action", "reward", "is_first", "cont")))


@torch.no_grad()
def losses(agent: Agent, batch: Batch, seed: int = 0) -> tuple[float, float]:
    """Mean reconstruction and dynamics loss over the batch's steps after the first WARMUP."""
    wm = agent.world_model
    with seeded_posterior(seed), evaluating(wm):
        states = wm.observe(batch.obs, batch.action, batch.is_first)
        recon = wm.reconstruction_loss(wm.feat(states.h, states.quantized.code), batch.obs)
        dyn, _ = wm.prior_dist.losses(states.quantized, wm.prior(states.h))
    return recon[:, WARMUP:].mean().item(), dyn[:, WARMUP:].mean().item()


def age_rows(agent: Agent, state: dict, every: int, windows: int, seq_len: int,
             frames: bool) -> list[tuple[int, dict[str, float | None]]]:
    """One row per window of env steps: the losses on `windows` runs drawn evenly from the
    steps collected in it (each stream in turn), or None where no run of `seq_len` fits."""
    replay = state["replay"]
    streams, kept = replay["reward"].shape
    held = step_of_slot(replay["written"], kept).sort().values  # per stream, in order
    label = window_labels(state, held, every, frames)
    rows = []
    for end in sorted(set(label.tolist())):
        inside = held[label == end]
        first, last = int(inside[0]), int(inside[-1]) - seq_len + 1  # the runs' first steps
        if last < first:
            rows.append((end, {"recon": None, "dyn": None}))
            continue
        starts = torch.linspace(first, last, windows).round().long()
        batch = runs_at(replay, torch.arange(windows) % streams, starts, seq_len)
        recon, dyn = losses(agent, batch)
        rows.append((end, {"recon": recon, "dyn": dyn}))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = window_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, default=16,
                        help="runs of consecutive steps scored per window")
    parser.add_argument("--seq-len", type=int, default=64, help="steps per run")
    args = parser.parse_args(argv)
    if args.windows < 1:
        parser.error(f"--windows {args.windows} scores nothing; use 1 or more")
    if args.seq_len <= WARMUP:
        parser.error(f"runs of {args.seq_len} steps leave nothing to score after the first "
                     f"{WARMUP}; use --seq-len {WARMUP + 1} or more")
    state = checked_state(parser, args)
    agent, _, _ = agent_from_checkpoint(state)
    rows = age_rows(agent, state, args.every, args.windows, args.seq_len, args.frames)
    print(f"{args.target} (checkpoint at {state['env_steps']} env steps): world-model losses "
          f"on the replayed steps, by the window they were collected in")
    print("\n".join(table(rows, ["recon", "dyn"], "env frames" if args.frames else
                          "env steps")))


if __name__ == "__main__":
    main()
