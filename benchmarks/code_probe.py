"""The code probe from the command line: train the world model alone on a random policy's
steps of the env a run with these overrides makes, and print how much of the observations
reaches the code every --every updates (agent/analysis/code_probe.py; results in
docs/results/minatar.md). With --board (MinAtar), also the share of each object's cells
that the posterior draws (agent/analysis/board_check.py) every --every updates, and the
whole board check, imagined steps included, at the end.

    python benchmarks/code_probe.py [--steps 1000] [--updates 300] [--every 100] [--seed 0]
                                    [--board] key=value ...   (e.g. env=minatar env.game=asterix)

--steps vector steps of 4 envs fill the replay; the updates use the run's batch, sequence
length, loss scales and model optimizer. One torch thread; 100 MinAtar updates took
20-60 s on a 2-core VM shared with training runs.
"""

import argparse
import time

import numpy as np
import torch
from common import load_config

from agent.agent import Agent
from agent.analysis.board_check import check_board, pct
from agent.analysis.code_probe import code_information
from agent.analysis.random_data import random_policy_replay, train_in_chunks
from agent.loop.evaluate import env_interface

BOARD_WINDOWS = 32  # replayed windows per board check: a few seconds each


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in (("steps", 1000), ("updates", 300), ("every", 100), ("seed", 0)):
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--board", action="store_true",
                        help="also score each MinAtar object's cells (board_check)")
    args, overrides = parser.parse_known_args()
    torch.set_num_threads(1)
    cfg = load_config(overrides)
    env = cfg.env
    replay = random_policy_replay(env.id, args.steps, dict(env.kwargs or {}), seed=args.seed,
                                  image_size=env.image_size, image_fit=env.image_fit,
                                  **env.wrappers())
    torch.manual_seed(args.seed)
    codec, spec = env_interface(env)
    agent = Agent(spec, codec, cfg, torch.device("cpu"))
    print(f"{' '.join(overrides) or 'default config'}, {args.steps} x 4 random steps")
    print(f"{0:>6} updates: {code_information(agent, replay).line()}", flush=True)
    tic = time.perf_counter()
    for done, rewards in train_in_chunks(agent, replay, args.updates, args.every):
        print(f"{done:>6} updates: {code_information(agent, replay).line()}; reward loss "
              f"{np.mean(rewards):.4f}; {time.perf_counter() - tic:.0f} s", flush=True)
        if args.board:
            check = check_board(agent, replay, BOARD_WINDOWS, cfg.train.seq_len, args.seed)
            print("        posterior draws " + ", ".join(
                f"{name} {pct(found)}" for name, found in zip(
                    check.channels, check.observed.found, strict=True)), flush=True)
    if args.board:
        print("\n".join(check.lines()))


if __name__ == "__main__":
    main()
