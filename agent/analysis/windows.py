"""A run's logged figures, averaged over windows of env steps: how the return, the policy's
entropy, the code and the world model's errors moved together.

    python -m agent.analysis.windows RUN_DIR [--every 20000] [--frames] [--keys KEY ...]

Prints a markdown table, one row per window, the mean of every event logged in it (the
window (0, every] is labelled `every`). A key a window never logged shows as "-". The
default keys are the ones read first when a run fails to learn: the training return and
episode length, the actor's entropy, the code's used bits, the imagined reward per step
and the return scale the actor divides by, the dynamics and reward losses, the open-loop
errors at 15 steps and the greedy eval return. --frames counts env frames (DMC, Atari:
action repeat) instead of agent steps.
"""

import argparse
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from agent.loop.metrics_file import METRICS, read_events

DEFAULT_KEYS = ("train/return", "train/length", "train/actor_entropy", "quant/used_bits",
                "train/imag_reward", "train/return_scale", "loss/dyn", "loss/reward",
                "model/openloop_obs_mse_h15", "model/openloop_reward_mae_h15", "eval/return")


def window_means(events: Iterable[dict], every: int, keys: Sequence[str],
                 x_key: str = "step") -> list[tuple[int, dict[str, float | None]]]:
    """(window end, {key: mean or None}) for each window of `every` that logged any key,
    in order. An event at x belongs to the window ending at the first multiple of `every`
    at or after x. Values that are not finite numbers (null, NaN) are left out."""
    if every <= 0:
        raise ValueError(f"the window must be a positive number of steps, not {every}")
    sums: dict[int, dict[str, list[float]]] = {}
    for event in events:
        end = math.ceil(event.get(x_key, event["step"]) / every) * every
        for key in keys:
            value = event.get(key)
            if isinstance(value, int | float) and math.isfinite(value):
                sums.setdefault(end, {}).setdefault(key, []).append(float(value))
    return [(end, {key: (sum(v) / len(v) if (v := values.get(key)) else None) for key in keys})
            for end, values in sorted(sums.items())]


def table(rows: list[tuple[int, dict[str, float | None]]], keys: Sequence[str],
          unit: str) -> list[str]:
    def show(x: float | None) -> str:
        return "-" if x is None else f"{x:.3g}"

    lines = [f"| {unit} | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {end:,} | " + " | ".join(show(means[k]) for k in keys) + " |"
              for end, means in rows]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--every", type=int, default=20_000, help="window size (env steps)")
    parser.add_argument("--frames", action="store_true",
                        help="count env frames (with action repeat) instead of agent steps")
    parser.add_argument("--keys", nargs="+",
                        help="metrics to average (default: the ones read first, if logged)")
    args = parser.parse_args(argv)
    path = args.run_dir / METRICS
    if not path.is_file():
        parser.error(f"{path} does not exist: give a run folder (the one holding {METRICS})")
    if args.every <= 0:
        parser.error(f"--every must be a positive number of steps, not {args.every}")
    events = read_events(path)
    logged = set().union(*events) if events else set()
    if args.keys is None:  # a run without a world model's open-loop errors, say
        args.keys = [key for key in DEFAULT_KEYS if key in logged]
    if unknown := [key for key in args.keys if key not in logged]:
        parser.error(f"{path} logs no {', '.join(unknown)}; it logs: {', '.join(sorted(logged))}")
    x_key = "frames" if args.frames else "step"
    rows = window_means(events, args.every, args.keys, x_key)
    print("\n".join(table(rows, args.keys, "env frames" if args.frames else "env steps")))


if __name__ == "__main__":
    main()
