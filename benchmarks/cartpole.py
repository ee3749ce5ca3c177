"""CartPole-v1 with the default config, several seeds, one after another.

    python benchmarks/cartpole.py --seeds 0 1 2 [--steps 10000] [-- key=value ...]

Prints per seed the env steps and wall seconds at which the greedy eval return
(10 episodes) first reaches the threshold, and the final eval return; writes the same as
JSON. Seeds run one at a time so that wall-clock figures are not shared between runs.
"""

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_seed(seed: int, steps: int, run_dir: Path, overrides: list[str]) -> dict:
    cmd = [sys.executable, str(ROOT / "run.py"), f"seed={seed}", f"steps={steps}",
           f"run_dir={run_dir}", "eval.every=500", "eval.episodes=10", "wandb.mode=disabled",
           "log.progress=false", *overrides]
    tic = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - tic
    return {"seed": seed, "wall_s": wall, "run_dir": str(run_dir), "command": " ".join(cmd[1:])}


def summarise(result: dict, threshold: float) -> dict:
    evals = [json.loads(line) for line in open(Path(result["run_dir"]) / "metrics.jsonl")]
    evals = [e for e in evals if "eval/return" in e]
    solved = next((e for e in evals if e["eval/return"] >= threshold), None)
    return result | {
        "solve_step": solved["step"] if solved else None,
        "solve_wall_s": solved["perf/wall_s"] if solved else None,
        "final_return": evals[-1]["eval/return"] if evals else None,
        "best_return": max(e["eval/return"] for e in evals) if evals else None,
        "curve": [(e["step"], e["eval/return"]) for e in evals],
    }


def median_or_none(values: list) -> float | None:
    """Median where an unsolved seed counts as infinitely slow."""
    if not values:
        return None
    ranked = sorted(float("inf") if v is None else v for v in values)
    mid = statistics.median(ranked)
    return None if mid == float("inf") else mid


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
        rows.append(summarise(run_seed(seed, args.steps, run_dir, args.overrides),
                              args.threshold))
        r = rows[-1]
        print(f"seed {seed}: solved at {r['solve_step']} steps / {r['solve_wall_s']} s, "
              f"final {r['final_return']}, best {r['best_return']}, wall {r['wall_s']:.0f} s",
              flush=True)

    report = {
        "date": date.today().isoformat(), "machine": platform.processor() or platform.machine(),
        "threshold": args.threshold, "steps": args.steps, "overrides": args.overrides,
        "median_solve_step": median_or_none([r["solve_step"] for r in rows]),
        "median_solve_wall_s": median_or_none([r["solve_wall_s"] for r in rows]),
        "runs": rows,
    }
    print(f"\n| seed | env steps to >= {args.threshold:g} | wall s to >= {args.threshold:g} "
          f"| final eval return | run wall s |\n|---|---|---|---|---|")
    for r in rows:
        wall = f"{r['solve_wall_s']:.0f}" if r["solve_wall_s"] else "-"
        print(f"| {r['seed']} | {r['solve_step'] or 'not reached'} | {wall} "
              f"| {r['final_return']:.1f} | {r['wall_s']:.0f} |")
    print(f"median env steps to threshold: {report['median_solve_step']}, "
          f"median wall s: {report['median_solve_wall_s']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
