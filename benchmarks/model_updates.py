"""Would more world-model updates make a run's model predict further ahead? From a run's
checkpoint (its weights and the replay it collected), train the world model alone for
--updates more updates and print its open-loop errors at 1, 5 and 15 steps ahead every
--every updates: the question a higher train ratio asks, without training a new agent.

    python benchmarks/model_updates.py RUN_DIR_OR_CHECKPOINT [--updates 2000] [--every 500]
                                       [--draws 16] [--seed 0]

The errors are those a run logs as model/openloop_* (agent/loop/openloop_errors.py), each
a mean over --draws draws of STARTS (32) replayed windows, the same windows at every row, so the
rows differ only by the updates. The updates use the run's batch shape, loss scales and
model optimizer with the state the checkpoint kept. One torch thread.
"""

import math
import time

import numpy as np
import torch

from agent.analysis.command import loaded, target_parser
from agent.analysis.random_data import train_in_chunks
from agent.analysis.reward_check import run_from_checkpoint
from agent.loop.openloop_errors import HORIZONS, STARTS, context_steps, measure_open_loop

KEYS = [f"model/openloop_{name}_h{h}" for name in ("reward_mae", "obs_mse") for h in HORIZONS]


def open_loop_means(agent, replay, draws: int, seed: int) -> dict[str, float]:
    """Each error's mean over `draws` draws (a horizon no window reached is left out)."""
    context = context_steps(agent.cfg.train.seq_len)
    rows = [measure_open_loop(agent.world_model, replay, np.random.default_rng([seed, i]),
                              context, torch.device("cpu")) for i in range(draws)]
    means = {}
    for key in KEYS:
        values = [row[key] for row in rows if key in row and math.isfinite(row[key])]
        means[key] = float(np.mean(values)) if values else math.nan
    return means


def line(updates: int, means: dict[str, float], seconds: float) -> str:
    cells = " | ".join("-" if math.isnan(means[k]) else f"{means[k]:.4f}" for k in KEYS)
    return f"| {updates:,} | {cells} | {seconds:.0f} |"


def main() -> None:
    parser = target_parser(__doc__)
    for name, default in (("updates", 2000), ("every", 500), ("draws", 16), ("seed", 0)):
        parser.add_argument(f"--{name}", type=int, default=default)
    args = parser.parse_args()
    if min(args.updates, args.every, args.draws) <= 0:
        parser.error("--updates, --every and --draws must be positive")
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    agent, replay, env_steps = run_from_checkpoint(loaded(args.target))
    print(f"{args.target}: checkpoint at {env_steps:,} env steps, {len(replay):,} replayed "
          f"steps; open-loop errors, each over {args.draws} x {STARTS} windows")
    print("| more updates | " + " | ".join(k.removeprefix("model/openloop_") for k in KEYS)
          + " | wall s |")
    print("|---" * (len(KEYS) + 2) + "|")
    print(line(0, open_loop_means(agent, replay, args.draws, args.seed), 0.0), flush=True)
    tic = time.perf_counter()
    for done, _ in train_in_chunks(agent, replay, args.updates, args.every):
        means = open_loop_means(agent, replay, args.draws, args.seed)
        print(line(done, means, time.perf_counter() - tic), flush=True)


if __name__ == "__main__":
    main()
