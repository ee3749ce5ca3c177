"""DeepMind Control from proprioception against DreamerV3, at the same budget in env frames.

    python benchmarks/dmc.py [--tasks cartpole_swingup walker_walk ...] [--seeds 0 1 2]
                             [--frames 100000] [--eval-every-frames 10000] [--jobs 2]
                             [key=value ...]
    python benchmarks/dmc.py --show benchmarks/results/dmc.json [more.json ...]

Each run is `env=dmc env.task=TASK` (pip install -e ".[dmc]"; DreamerV3's settings: action
repeat 2, 1,000-frame episodes) for --frames env frames, with a greedy eval over 10 episodes
(the config's eval.episodes) every --eval-every-frames. Budgets are stated in frames, as
DreamerV3 reports DMC; the runs' `steps` and `eval.every` are agent steps (frames / action
repeat). Extra key=value overrides go to every run (e.g. `train.train_ratio=512`,
DreamerV3's ratio; `preset=debug` to try the script). With --jobs N, N runs train at a
time with one torch thread each (their wall time then includes sharing the machine).
Runs train in <out>-runs/TASK-sSEED/ beside the JSON: the same command again reuses
finished runs and resumes interrupted ones from their latest checkpoint.

Prints, per task, our final eval return (mean and std over seeds) next to DreamerV3's at the
same budget (benchmarks/reference_scores.json; '-' where none is published), and the means
over tasks; writes JSON with each run's folder and eval curve (in frames). --show prints the
table of a saved result again, without training; given several, one table over all their
runs (results made one task at a time), one table per arm where what their runs trained
differs (each run's saved settings against today's defaults for its task: another quantizer
is another arm, not more seeds, even where a default changed since).
"""

import argparse

from common import fmt, load_config, parse_benchmark_args
from reference import reference_value
from suite_runs import (
    eval_kind,
    mean_over,
    merge_reports,
    run_grid,
    save_report,
    task_stats,
)

TASKS = ["cartpole_swingup", "reacher_easy", "walker_walk", "cheetah_run",
         "cartpole_balance", "finger_spin"]


def summarise(runs: list[dict], tasks: list[str], frames: int) -> dict:
    """Per task: mean and std of the final eval return over seeds, and DreamerV3's."""
    return {task: task_stats(runs, task)
            | {"dreamerv3": reference_value("dmc_proprio", task, frames)} for task in tasks}


def merge(reports: list[dict]) -> dict:
    """Saved results made one task at a time, as one table."""
    budget = ("frames", "action_repeat", "eval_episodes", "eval_greedy")
    return merge_reports(reports, TASKS, budget, summarise)


def print_table(report: dict) -> None:
    frames, summary = report["frames"], report["summary"]
    print(f"\nDMC proprio, {frames:,} env frames (action repeat {report['action_repeat']}), "
          f"final {eval_kind(report)} eval return over {report['eval_episodes']} episodes\n"
          f"| task | seeds | ours (mean ± std) | DreamerV3 at {frames:,} frames | ours / "
          f"DreamerV3 | wall s per run |\n|---|---|---|---|---|---|")
    for task, s in summary.items():
        ratio = s["mean"] / s["dreamerv3"] if s["mean"] is not None and s["dreamerv3"] else None
        print(f"| {task} | {s['runs']} | {fmt(s['mean'], 1)} ± {fmt(s['std'], 1)} "
              f"| {fmt(s['dreamerv3'])} | {fmt(ratio, 2)} | {fmt(s['wall_s'])} |")
    ours, theirs = mean_over(summary, "mean"), mean_over(summary, "dreamerv3")
    ratio = ours / theirs if ours is not None and theirs else None
    print(f"| **mean over tasks** | | **{fmt(ours, 1)}** | **{fmt(theirs)}** "
          f"| {fmt(ratio, 2)} | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=TASKS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--eval-every-frames", type=int, default=10_000)
    args = parse_benchmark_args(parser, "benchmarks/results/dmc.json", print_table, merge)
    if args is None:
        return

    extra = [*args.overrides] + (["threads=1"] if args.jobs > 1 else [])
    cfg = load_config(["env=dmc", *extra])
    repeat = cfg.env.action_repeat

    def overrides_for(task: str, seed: int) -> list[str]:
        return ["env=dmc", f"env.task={task}", f"seed={seed}", f"steps={args.frames // repeat}",
                f"eval.every={args.eval_every_frames // repeat}", *extra]

    runs = run_grid(args.jobs, args.out, args.tasks, args.seeds, overrides_for)
    save_report(args, {"frames": args.frames, "eval_every_frames": args.eval_every_frames,
                       "action_repeat": repeat, "eval_episodes": cfg.eval.episodes,
                       "eval_greedy": cfg.eval.greedy},
                runs, summarise(runs, args.tasks, args.frames), print_table)


if __name__ == "__main__":
    main()
