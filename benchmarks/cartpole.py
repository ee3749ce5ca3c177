"""CartPole-v1 with the default config, several seeds, one after another.

    python benchmarks/cartpole.py --seeds 0 1 2 [--steps 10000] [-- key=value ...]

Prints per seed the env steps and wall seconds at which the greedy eval return
(10 episodes, every 500 env steps) first reaches the threshold, and the final eval return;
writes the same as JSON. Seeds run one at a time, so wall-clock figures are not shared.
"""

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

from common import ROOT, fmt, learning_summary, percent, read_metrics, seed_medians, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--threshold", type=float, default=475.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/cartpole.json")
    parser.add_argument("overrides", nargs="*", help="extra run.py overrides")
    args = parser.parse_args()

    stamp = time.strftime("%Y%m%d-%H%M%S")
    rows = []
    for seed in args.seeds:
        run_dir = args.out.parent / f"cartpole-{stamp}-s{seed}"
        overrides = [f"seed={seed}", f"steps={args.steps}", "eval.every=500",
                     "eval.episodes=10", *args.overrides]
        wall = train(run_dir, overrides)
        row = {"seed": seed, "wall_s": wall, "run_dir": str(run_dir),
               "overrides": overrides} | learning_summary(read_metrics(run_dir), args.threshold)
        rows.append(row)
        print(f"seed {seed}: reached {args.threshold:g} at {row['solve_step']} env steps / "
              f"{fmt(row['solve_wall_s'])} s; held in {percent(row['held_fraction'])} of the "
              f"evals after; final {fmt(row['final_return'], 1)}; run {wall:.0f} s", flush=True)

    report = {
        "date": date.today().isoformat(), "machine": platform.processor() or platform.machine(),
        "threshold": args.threshold, "steps": args.steps, "overrides": args.overrides,
        **seed_medians(rows), "runs": rows,
    }
    t = f"{args.threshold:g}"
    print(f"\n| seed | env steps to eval ≥ {t} | wall s to eval ≥ {t} | later evals ≥ {t} "
          f"| final eval return | wall s (whole run) |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['seed']} | {r['solve_step'] or 'not reached'} | {fmt(r['solve_wall_s'])} "
              f"| {percent(r['held_fraction'])} | {fmt(r['final_return'], 1)} "
              f"| {r['wall_s']:.0f} |")
    print(f"| median | {fmt(report['median_solve_step'])} | "
          f"{fmt(report['median_solve_wall_s'])} | {percent(report['median_held_fraction'])} "
          f"| {fmt(report['median_final_return'], 1)} | |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
