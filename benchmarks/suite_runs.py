"""Shared by the suite benchmarks (dmc.py, minatar_suite.py): one run per (task, seed) in a
folder named after the report, its eval curve in env frames, the per-task statistics over
seeds, and saved results merged into one."""

import argparse
import dataclasses
import json
import platform
import statistics
import subprocess
from datetime import date
from pathlib import Path

from children import map_jobs
from common import (
    arm_label,
    arm_of,
    check_run_folder,
    fmt,
    how_it_ended,
    load_config,
    read_metrics,
    train_or_resume,
    trained_settings,
)

from agent.config import flatten


def run_folder(out: Path, task: str, seed: int) -> Path:
    """Where a report's (task, seed) run trains: the same command again reuses a finished
    run and resumes an interrupted one; another --out starts afresh."""
    return out.parent / f"{out.stem}-runs" / f"{task}-s{seed}"


def run_one(task: str, seed: int, run_dir: Path, overrides: list[str]) -> dict:
    """Train one (task, seed), or resume or reread it; its final and best eval return and
    its eval curve."""
    # What it trains, kept in the result for --show's arms (read back from the run's
    # config.yaml once it ran; as composed here if it crashed first).
    row = {"task": task, "seed": seed, "run_dir": str(run_dir), "overrides": overrides,
           "settings": flatten(dataclasses.asdict(load_config(overrides)))}
    try:
        wall = train_or_resume(run_dir, overrides)
    except subprocess.CalledProcessError as err:  # the other runs still count
        print(f"{task} seed {seed}: {how_it_ended(err)}", flush=True)
        return row | {"error": str(err), "final_return": None, "best_return": None,
                      "wall_s": None, "curve": []}
    row["settings"] = trained_settings(run_dir)
    events = read_metrics(run_dir)
    curve = [(e["frames"], e["eval/return"]) for e in events if e.get("eval/return") is not None]
    row |= {"wall_s": wall, "curve": curve, "final_frames": curve[-1][0] if curve else None,
            "final_return": curve[-1][1] if curve else None,
            "best_return": max(r for _, r in curve) if curve else None,
            "final_train_return": late_training_return(events)}
    print(f"{task} seed {seed}: final {fmt(row['final_return'], 1)} at "
          f"{row['final_frames']} frames, best {fmt(row['best_return'], 1)}, {wall:.0f} s",
          flush=True)
    return row


def late_training_return(events: list[dict], share: float = 0.1) -> float | None:
    """The mean return of the training episodes that ended in the last `share` of the run
    (each log window's mean weighted by its episodes); None if none ended there."""
    start = (1 - share) * max((e["step"] for e in events), default=0)
    late = [e for e in events if e["step"] > start and e.get("train/return") is not None]
    episodes = sum(e.get("train/episodes_finished", 0) for e in late)
    if not episodes:
        return None
    return sum(e["train/return"] * e["train/episodes_finished"] for e in late) / episodes


def run_grid(jobs: int, out: Path, tasks: list[str], seeds: list[int], overrides_for
             ) -> list[dict]:
    """Every (task, seed) with `overrides_for(task, seed)`, `jobs` at a time, each in its
    `run_folder`; every folder is checked before any run trains. The rows in task-major order."""
    grid = [(t, s, run_folder(out, t, s), overrides_for(t, s)) for t in tasks for s in seeds]
    for _, _, run_dir, overrides in grid:
        check_run_folder(run_dir, overrides)
    return map_jobs(jobs, lambda job: run_one(*job), grid)


def task_stats(runs: list[dict], task: str) -> dict:
    """One task's final eval return over its seeds (mean, population std, median) and wall s
    per run."""
    finals = [r["final_return"] for r in runs
              if r["task"] == task and r["final_return"] is not None]
    walls = [r["wall_s"] for r in runs if r["task"] == task and r["wall_s"]]
    return {"runs": len(finals),
            "mean": statistics.mean(finals) if finals else None,
            "std": statistics.pstdev(finals) if finals else None,
            "median": statistics.median(finals) if finals else None,
            "wall_s": statistics.mean(walls) if walls else None}


def mean_over(summary: dict, key: str) -> float | None:
    """Mean over tasks, only where every task has the value (else it would mislead)."""
    values = [s[key] for s in summary.values()]
    return statistics.mean(values) if values and None not in values else None


# What a saved result that predates a budget key had: every evaluation was greedy.
BUDGET_DEFAULTS = {"eval_greedy": True}


def eval_kind(report: dict) -> str:
    """How the report's evaluations acted: "greedy" or "sampled" (eval.greedy=false)."""
    return "greedy" if report.get("eval_greedy", True) else "sampled"


def merge_reports(reports: list[dict], order: list[str], budget_keys: tuple[str, ...],
                  summarise) -> dict:
    """Saved results of separate invocations (e.g. one task each) as one report, the tasks
    in `order` first; `summarise(runs, tasks, frames)` makes the report's summary. They must
    share the budget and the arm (common.show_arms splits arms), or the table would mix
    them."""
    arms = {arm_of(r) for r in reports}
    if len(arms) > 1:
        raise SystemExit(f"error: these results are different arms "
                         f"({'; '.join(arm_label(arm) for arm in arms)}); show them as one "
                         f"table per arm")
    budgets = {tuple(r.get(key, BUDGET_DEFAULTS.get(key)) for key in budget_keys)
               for r in reports}
    if len(budgets) > 1:
        raise SystemExit(f"error: these results have different budgets "
                         f"({', '.join(budget_keys)}): {sorted(budgets)}")
    runs = [run for r in reports for run in r["runs"]]
    refuse_runs_shown_twice(reports)
    present = {run["task"] for run in runs}
    tasks = [t for t in order if t in present] + sorted(present - set(order))
    seeds = sorted({run["seed"] for run in runs})
    return reports[0] | {"runs": runs, "seeds": seeds,
                         "summary": summarise(runs, tasks, reports[0]["frames"])}


def refuse_runs_shown_twice(reports: list[dict]) -> None:
    """A task and seed twice among results of one arm (merge_reports' results; a run and
    its record, say) would count as two seeds."""
    seen: dict[tuple, str] = {}
    for report in reports:
        source = report.get("source", "a result")
        for run in report["runs"]:
            key = (run["task"], run["seed"])
            if key in seen:
                where = (f"twice in {source}" if seen[key] == source
                         else f"in both {seen[key]} and {source}")
                raise SystemExit(f"error: {run['task']} seed {run['seed']} is {where}: one "
                                 f"run shown twice would count as two seeds; show one of "
                                 f"them")
            seen[key] = source


def save_report(args: argparse.Namespace, budget: dict, runs: list[dict], summary: dict,
                print_table) -> None:
    """Write the runs, their summary and the budget they share to --out, and print the
    table."""
    report = {"date": date.today().isoformat(),
              "machine": platform.processor() or platform.machine(), **budget,
              "seeds": args.seeds, "jobs": args.jobs, "overrides": args.overrides,
              "runs": runs, "summary": summary}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print_table(report)
