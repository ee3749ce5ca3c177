"""Every quantizer on CartPole-v1: the same budget and seeds, one run after another.

    python benchmarks/quantizers.py [--quantizers fsq vq ...] [--seeds 0 1] [--steps 20000]
                                    [--jobs 2] [--extend SWEEP_DIR]
    python benchmarks/quantizers.py --show benchmarks/results/quantizers.json

With --jobs N, N runs train at a time, each with one torch thread (more throughput on a
small machine; each run's wall time then includes sharing the machine).

With --extend SWEEP_DIR, each (quantizer, seed) run of a shorter sweep with the quantizer's
default options (e.g. the ablation's 10k-step runs) is copied and resumed from its last
checkpoint up to --steps. Resuming continues a run exactly (tests/test_resume.py) and no
setting depends on the total step count, so this gives the same runs as training from
scratch at the same thread count (--jobs > 1 runs use one thread each), for the cost of
the extra steps only. A source run must be finished and have the config a fresh run gets
(eval settings, env, extra overrides: everything but run folder, length, threads, logging).
Wall seconds are each run's own training clock (summary.json's perf/wall_s, both parts
added; interpreter start-up not included).
--show prints the table of a saved result again, without training.

Prints a table: quantizer, bits per code (G·log2 K), env steps until the greedy eval return
(10 episodes) first reaches the threshold (median over seeds), final eval return, final
perplexity / K, dead codes (over the last 100 batches) and wall seconds per run.
"""

import argparse
import dataclasses
import json
import platform
import shutil
import statistics
import subprocess
import time
from datetime import date
from pathlib import Path

from children import map_jobs
from common import (
    fmt,
    how_it_ended,
    last_value,
    learning_summary,
    load_config,
    parse_benchmark_args,
    read_metrics,
    resume,
    train,
)

import agent.quantizers as quantizers
from agent.analysis.report import median_unsolved_last
from agent.config import changed_settings, flatten, saved_settings


def bits(name: str) -> float:
    return quantizers.build({"name": name}, embed_dim=8).bits


def has_codebook(name: str) -> bool:
    """False for the continuous arm: no bits, perplexity or dead codes to speak of."""
    return quantizers.build({"name": name}, embed_dim=8).has_codebook


def find_run(sweep: Path, overrides: list[str], steps: int) -> Path:
    """The finished run of `sweep` that trained what a fresh run with these overrides
    trains (how it was carried out aside: threads, logging, ...), shorter than `steps`,
    with a replay that keeps every step of the longer run as the fresh run's would."""
    want = flatten(dataclasses.asdict(load_config(overrides))) | {"steps": steps}
    for config_file in sorted(sweep.glob("*/config.yaml")):
        run = config_file.parent
        summary = run / "summary.json"
        held = flatten(saved_settings(config_file.read_text())) | {"steps": steps}
        if summary.exists() and not changed_settings(held, want):
            done = json.loads(summary.read_text())["steps"]
            if done >= steps:
                raise SystemExit(f"--extend: {run} already has {done} >= {steps} env steps")
            return run
    raise SystemExit(f"--extend {sweep}: no finished run with the config of {overrides}")


def mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.mean(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quantizers", nargs="+", default=quantizers.available())
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--threshold", type=float, default=475.0)
    parser.add_argument("--extend", type=Path, metavar="SWEEP_DIR",
                        help="continue the runs of a shorter sweep instead of starting anew")
    args = parse_benchmark_args(parser, "benchmarks/results/quantizers.json", print_table)
    if args is None:
        return

    stamp = time.strftime("%Y%m%d-%H%M%S")
    grid = [(name, seed) for name in args.quantizers for seed in args.seeds]
    extra = [*args.overrides] + (["threads=1"] if args.jobs > 1 else [])

    def fresh_overrides(name: str, seed: int) -> list[str]:
        return [f"quantizer={name}", f"seed={seed}", f"steps={args.steps}",
                "eval.every=500", "eval.episodes=10", *extra]

    sources = {job: find_run(args.extend, fresh_overrides(*job), args.steps)
               for job in grid} if args.extend else {}

    def one(job: tuple[str, int]) -> dict:
        name, seed = job
        run_dir = args.out.parent / f"quantizers-{stamp}-{name}-s{seed}"
        overrides = fresh_overrides(name, seed)
        try:
            if job in sources:  # a copy continues; the source run is left as it was
                shutil.copytree(sources[job], run_dir, ignore=shutil.ignore_patterns(
                    "wandb", "summary.json", "error.txt", ".lock"))
                resume(run_dir, extra, f"steps={args.steps}")
            else:
                train(run_dir, overrides)
            wall = json.loads((run_dir / "summary.json").read_text())["perf/wall_s"]
        except (subprocess.CalledProcessError, FileNotFoundError) as err:
            print(f"{name} seed {seed}: {how_it_ended(err)}", flush=True)
            return {"quantizer": name, "seed": seed, "run_dir": str(run_dir),
                    "error": str(err), "bits": bits(name), "solve_step": None,
                    "final_return": None, "perplexity_frac": None, "dead_codes": None,
                    "wall_s": None}
        events = read_metrics(run_dir)
        row = {"quantizer": name, "seed": seed, "wall_s": wall, "run_dir": str(run_dir),
               "overrides": overrides, "bits": bits(name),
               "perplexity_frac": last_value(events, "quant/perplexity_frac"),
               "dead_codes": last_value(events, "quant/dead_codes")}
        row |= learning_summary(events, args.threshold)
        print(f"{name} seed {seed}: reached at {row['solve_step']}, final "
              f"{fmt(row['final_return'], 1)}, wall {wall:.0f} s", flush=True)
        return row

    rows = map_jobs(args.jobs, one, grid)
    report = {
        "date": date.today().isoformat(), "machine": platform.processor() or platform.machine(),
        "steps": args.steps, "seeds": args.seeds, "threshold": args.threshold,
        "jobs": args.jobs, "overrides": args.overrides,
        "extended": str(args.extend) if args.extend else None, "runs": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print_table(report)


def print_table(report: dict) -> None:
    t = f"{report['threshold']:g}"
    print(f"\n| quantizer | bits | env steps to eval ≥ {t} (median; reached/runs) | final eval "
          f"return (mean) | perplexity / K | dead codes | wall s per run |\n"
          f"|---|---|---|---|---|---|---|")
    names = list(dict.fromkeys(r["quantizer"] for r in report["runs"]))
    for name in names:
        runs = [r for r in report["runs"] if r["quantizer"] == name]
        reached = sum(r["solve_step"] is not None for r in runs)
        discrete = has_codebook(name)
        print(f"| `{name}` | {fmt(runs[0]['bits'] if discrete else None, 1)} "
              f"| {fmt(median_unsolved_last([r['solve_step'] for r in runs]))} "
              f"({reached}/{len(runs)}) | {fmt(mean([r['final_return'] for r in runs]), 1)} "
              f"| {fmt(mean([r['perplexity_frac'] for r in runs]) if discrete else None, 3)} "
              f"| {fmt(mean([r['dead_codes'] for r in runs]) if discrete else None, 1)} "
              f"| {fmt(mean([r['wall_s'] for r in runs]))} |")


if __name__ == "__main__":
    main()
