"""One update's wall time and the env's own speed, per env, at the default config.

    python benchmarks/env_speed.py [--envs env=cartpole "env=dmc env.task=walker_walk" ...]
                                   [--rounds 15] [--threads 1]

Each env (a quoted group of run.py overrides) gets its own agent and a batch of its real
observation and action shapes (random values). Their updates are timed in turns, one of each
per round, so that other load on a shared machine falls on every env alike; the table gives
the median and the minimum per env. Env speed: random actions through the env as training
makes it (action repeat included, no rendering unless env.obs=pixels), in agent steps/s and
frames/s (x action repeat). Writes JSON beside the other benchmark results.
"""

import argparse
import json
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from common import ROOT, load_config
from speed import random_batch

from agent.agent import Agent
from envs import ActionCodec, ObservationSpec, make_vector_env


def env_rate(envs, steps: int = 1000) -> float:
    """Agent steps per second of random actions."""
    envs.reset(seed=0)
    actions = [envs.action_space.sample() for _ in range(steps)]
    tic = time.perf_counter()
    for action in actions:
        envs.step(action)
    return steps / (time.perf_counter() - tic)


def build(overrides: str) -> dict:
    cfg = load_config(overrides.split())
    env = cfg.env
    envs = make_vector_env(env.id, 1, env.kwargs, env.vector, **env.wrappers())
    spec = ObservationSpec(envs.single_observation_space, env.image_size, env.image_fit)
    codec = ActionCodec(envs.single_action_space)
    agent = Agent(spec, codec, cfg, torch.device("cpu"))
    batch = random_batch(cfg, spec, codec, torch.device("cpu"))
    for _ in range(2):  # warm-up
        agent.train_step(batch)
    rate = env_rate(envs)
    envs.close()
    return {"overrides": overrides, "env": env.id, "action_repeat": env.action_repeat,
            "obs_dims": {k: list(v.shape) for k, v in spec.keys.items()},
            "action_size": codec.size, "agent_steps_per_s": rate,
            "frames_per_s": rate * env.action_repeat, "update": lambda: agent.train_step(batch)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["env=cartpole",
                                                      "env=dmc env.task=walker_walk"])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/env_speed.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [build(overrides) for overrides in args.envs]
    times = {i: [] for i in range(len(rows))}
    for _ in range(args.rounds):
        for i, row in enumerate(rows):
            tic = time.perf_counter()
            row["update"]()
            times[i].append(time.perf_counter() - tic)
    print("| env | obs dims | action size | update s (median) | update s (min) | agent steps/s "
          "| frames/s |\n|---|---|---|---|---|---|---|")
    for i, row in enumerate(rows):
        del row["update"]
        row |= {"update_s_median": statistics.median(times[i]), "update_s_min": min(times[i]),
                "update_s": times[i]}
        dims = sum(int(np.prod(s)) for s in row["obs_dims"].values())
        print(f"| {row['env']} | {dims} | {row['action_size']} | {row['update_s_median']:.3f} "
              f"| {row['update_s_min']:.3f} | {row['agent_steps_per_s']:.0f} "
              f"| {row['frames_per_s']:.0f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": date.today().isoformat(), "machine": platform.processor() or platform.machine(),
        "threads": args.threads, "rounds": args.rounds, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
