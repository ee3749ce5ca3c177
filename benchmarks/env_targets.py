"""Learning targets beyond CartPole: continuous actions, memory, pixels, MinAtar.

    python benchmarks/env_targets.py [--tasks pendulum acrobot memory pixels cartpole_pixels
                                              minatar]
                                     [--seeds 0 1 2] [--jobs 3]

  pendulum  Pendulum-v1 (Box actions): eval return >= -250 within 20,000 env steps,
            median of the seeds;
  acrobot   Acrobot-v1: eval return >= -100 within 20,000 env steps;
  memory    cue recall with delay 6 (env=memory): eval return >= 0.9 (95% of the answers
            right) within 10,000 env steps;
  pixels    CartPole-v1 from 64 x 64 renders (env.obs=pixels, the default agent): eval
            return >= 400 within 50,000 env steps;
  cartpole_pixels  the same target with env=cartpole_pixels, the settings that learn it;
  minatar   MinAtar Breakout (pip install -e ".[minatar]"): eval return at 100,000 env
            steps, and the wall time.
Runs go one after another, or N at a time with --jobs N (each with one torch thread; its
wall time then includes sharing the machine). Each trains in <out>-runs/TASK-sSEED/ beside
the JSON: the same command again rereads finished runs and resumes interrupted ones from
their latest checkpoint. Prints a table per task (with the share of the evaluations after
the first success that also reach the threshold) and writes JSON.
"""

import argparse
import json
import platform
import subprocess
from datetime import date
from pathlib import Path

from children import map_jobs
from common import (
    ROOT,
    check_run_folder,
    fmt,
    how_it_ended,
    learning_summary,
    percent,
    read_metrics,
    seed_medians,
    train_or_resume,
)
from suite_runs import run_folder

TASKS = {  # name: (overrides, env steps, threshold or None)
    "pendulum": (["env=pendulum"], 20_000, -250.0),
    "acrobot": (["env.id=Acrobot-v1", "env.name=acrobot"], 20_000, -100.0),
    "memory": (["env=memory", "env.kwargs.delay=6"], 10_000, 0.9),
    # 64 x 64 x 3 frames: a replay of the run's length (nothing is evicted either way)
    "pixels": (["env.obs=pixels", "replay.capacity=50000"], 50_000, 400.0),
    "cartpole_pixels": (["env=cartpole_pixels", "replay.capacity=50000"], 50_000, 400.0),
    "minatar": (["env=minatar", "env.game=breakout"], 100_000, None),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/env_targets.json")
    parser.add_argument("overrides", nargs="*", help="extra run.py overrides")
    args = parser.parse_args()

    report = {"date": date.today().isoformat(),
              "machine": platform.processor() or platform.machine(), "tasks": {}}
    extra = [*args.overrides] + (["threads=1"] if args.jobs > 1 else [])

    def overrides_for(task: str, seed: int) -> list[str]:
        task_overrides, steps, _ = TASKS[task]
        return [*task_overrides, f"seed={seed}", f"steps={steps}", f"eval.every={steps // 20}",
                "eval.episodes=10", *extra]

    def one(job: tuple[str, int]) -> dict:
        task, seed = job
        threshold = TASKS[task][2]
        run_dir, overrides = run_folder(args.out, task, seed), overrides_for(task, seed)
        try:
            wall = train_or_resume(run_dir, overrides)
        except subprocess.CalledProcessError as err:  # the other runs still count
            print(f"{task} seed {seed}: {how_it_ended(err)}", flush=True)
            return {"task": task, "seed": seed, "wall_s": None, "run_dir": str(run_dir),
                    "overrides": overrides, "error": str(err), "solve_step": None,
                    "held_fraction": None, "final_return": None, "best_return": None}
        summary = learning_summary(read_metrics(run_dir), threshold or float("inf"))
        print(f"{task} seed {seed}: final {fmt(summary['final_return'], 1)}, best "
              f"{fmt(summary['best_return'], 1)}, first >= {threshold}: "
              f"{summary['solve_step'] if threshold is not None else '-'}, "
              f"{wall:.0f} s", flush=True)
        return {"task": task, "seed": seed, "wall_s": wall, "run_dir": str(run_dir),
                "overrides": overrides} | summary

    grid = [(task, seed) for task in args.tasks for seed in args.seeds]
    for task, seed in grid:  # every folder before any run trains
        check_run_folder(run_folder(args.out, task, seed), overrides_for(task, seed))
    all_rows = map_jobs(args.jobs, one, grid)
    for task in args.tasks:
        threshold = TASKS[task][2]
        steps = steps_run(overrides_for(task, args.seeds[0]))
        rows = [r for r in all_rows if r["task"] == task]
        medians = seed_medians(rows)
        if threshold is None:  # a task scored by its final return only
            medians |= {"median_solve_step": None, "median_solve_wall_s": None,
                        "median_held_fraction": None}
        report["tasks"][task] = {"steps": steps, "threshold": threshold, "runs": rows,
                                 **medians}
        print(f"\n{task}: {steps} env steps, threshold {threshold}\n"
              f"| seed | env steps to threshold | later evals ≥ threshold | final eval return "
              f"| best | wall s |\n|---|---|---|---|---|---|")
        for r in rows:
            reached = r["solve_step"] if threshold is not None else "-"
            print(f"| {r['seed']} | {reached or 'not reached'} | {percent(r['held_fraction'])} "
                  f"| {fmt(r['final_return'], 1)} "
                  f"| {fmt(r['best_return'], 1)} | {fmt(r['wall_s'])} |")
        print(f"| median | {fmt(medians['median_solve_step'])} "
              f"| {percent(medians['median_held_fraction'])} "
              f"| {fmt(medians['median_final_return'], 1)} | | |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))


def steps_run(overrides: list[str]) -> int:
    """The env steps a run with these overrides trains: the last `steps=` given wins, as in
    run.py, so a run cut short by an extra `steps=N` is reported at N, not the task's."""
    return int([o for o in overrides if o.startswith("steps=")][-1].split("=", 1)[1])


if __name__ == "__main__":
    main()
