"""A run's logged figures, averaged over windows of env steps: how the return, the policy's
entropy, the code and the world model's errors moved together.

    python -m agent.analysis.windows RUN_DIR [--every 20000] [--frames] [--keys KEY ...]

Prints a markdown table, one row per window (the window (0, every] is labelled `every`):
the mean of every event logged in it, except the training return and episode length,
which are means over the episodes that ended in the window (an event holds the mean over
the episodes that ended since the one before, so it is weighted by their number). A key a
window never logged shows as "-". The default keys are the ones read first when a run
fails to learn: the training return and episode length, the actor's entropy, the code's
used bits, the imagined reward per step and the return scale the actor divides by, the
dynamics and reward losses, the open-loop errors at 15 steps and the greedy eval return.
--frames counts env frames (DMC, Atari: action repeat) instead of agent steps.
"""

import argparse
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from agent.loop.metrics_file import METRICS, MetricsError, read_events

DEFAULT_KEYS = ("train/return", "train/length", "train/actor_entropy", "quant/used_bits",
                "train/imag_reward", "train/return_scale", "loss/dyn", "loss/reward",
                "model/openloop_obs_mse_h15", "model/openloop_reward_mae_h15", "eval/return")

EPISODES = "train/episodes_finished"
PER_EPISODE = ("train/return", "train/length")
"""Keys an event logs as the mean over its `EPISODES` episodes."""


def window_means(events: Iterable[dict], every: int, keys: Sequence[str],
                 x_key: str = "step") -> list[tuple[int, dict[str, float | None]]]:
    """(window end, {key: mean or None}) for each window of `every` that logged any key,
    in order. An event at x belongs to the window ending at the first multiple of `every`
    at or after x. Values that are not finite numbers (null, NaN) are left out."""
    if every <= 0:
        raise ValueError(f"the window must be a positive number of steps, not {every}")
    totals: dict[int, dict[str, list[float]]] = {}  # window end -> key -> [sum, weight]
    for event in events:
        end = math.ceil(event[x_key] / every) * every
        for key in keys:
            value = event.get(key)
            if not (isinstance(value, int | float) and math.isfinite(value)):
                continue
            weight = event.get(EPISODES, 1.0) if key in PER_EPISODE else 1.0
            total = totals.setdefault(end, {}).setdefault(key, [0.0, 0.0])
            total[0] += weight * value
            total[1] += weight
    return [(end, {key: (t[0] / t[1] if (t := found.get(key)) and t[1] else None)
                   for key in keys})
            for end, found in sorted(totals.items())]


def table(rows: list[tuple[int, dict[str, float | None]]], keys: Sequence[str],
          unit: str) -> list[str]:
    def show(x: float | None) -> str:
        # Three significant figures, but whole numbers as such (a return of 1,234).
        return "-" if x is None else f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"

    lines = [f"| {unit} | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {end:,} | " + " | ".join(show(means[k]) for k in keys) + " |"
              for end, means in rows]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--every", type=int, default=20_000,
                        help="window size, in env steps (env frames with --frames)")
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
    try:
        events = read_events(path)
    except MetricsError as err:
        parser.error(str(err))
    if not events:
        parser.error(f"{path} holds no events yet")
    logged = set().union(*events)
    x_key = "frames" if args.frames else "step"
    if x_key not in logged:  # runs from before frames were logged
        parser.error(f"{path} logs no env frames; leave out --frames (its steps are frames "
                     f"when the env repeats no action)")
    if args.keys is None:  # a run without a world model's open-loop errors, say
        args.keys = [key for key in DEFAULT_KEYS if key in logged]
    if unknown := [key for key in args.keys if key not in logged]:
        parser.error(f"{path} logs no {', '.join(unknown)}; it logs: {', '.join(sorted(logged))}")
    rows = window_means(events, args.every, args.keys, x_key)
    print("\n".join(table(rows, args.keys, "env frames" if args.frames else "env steps")))


if __name__ == "__main__":
    main()
