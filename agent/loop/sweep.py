"""A run as one job of a multirun: where it lives, what it shares, and whether it is done.

    sweeps/<sweep>/                       one ablation (hydra.sweep.dir)
        quantizer=fsq,seed=0/             one run (its overrides): config.yaml, metrics.jsonl,
        quantizer=vq,seed=0/              summary.json when finished, error.txt if it crashed
"""

import dataclasses
import json
import os
import sys
import time
import traceback
from pathlib import Path

from agent.config import Config
from agent.loop import checkpoint

SUMMARY = "summary.json"
ERROR = "error.txt"


def job_config(cfg: Config, sweep_dir: str, subdir: str, n_jobs: int | None) -> Config:
    """The run's folder inside the sweep, its wandb group and tags, and, when `n_jobs`
    share this machine (-1: one per core), its share of torch threads."""
    threads = cfg.threads
    if n_jobs is not None and not threads:
        cores = os.cpu_count() or 1
        threads = max(1, cores // (cores if n_jobs < 1 else min(n_jobs, cores)))
    wandb = dataclasses.replace(
        cfg.wandb, group=cfg.wandb.group or cfg.sweep,
        tags=[*cfg.wandb.tags, f"quantizer={cfg.quantizer.name}", f"seed={cfg.seed}"])
    return dataclasses.replace(cfg, run_dir=str(Path(sweep_dir) / subdir), wandb=wandb,
                               threads=threads)


def prepare(run_dir: Path) -> bool | None:
    """What a job does with its folder: None to skip a finished run, True to resume an
    interrupted one from its latest checkpoint, False to start (an unfinished run without a
    checkpoint is set aside first)."""
    if (run_dir / SUMMARY).exists():
        print(f"skipping finished run {run_dir}", file=sys.stderr)
        return None
    if (run_dir / "config.yaml").exists() and checkpoint.latest(run_dir / "checkpoints"):
        print(f"resuming interrupted run {run_dir}", file=sys.stderr)
        return True
    moved = set_aside(run_dir)
    if moved:
        print(f"restarting unfinished run {run_dir} (kept as {moved.name})", file=sys.stderr)
    return False


def set_aside(run_dir: Path) -> Path | None:
    """Move an unfinished run's folder out of the way (nothing is deleted)."""
    if not run_dir.exists() or not any(run_dir.iterdir()):
        return None
    target = run_dir.with_name(f"{run_dir.name}.unfinished-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir.rename(target)
    return target


def write_summary(run_dir: Path, summary: dict) -> None:
    (run_dir / SUMMARY).write_text(json.dumps(summary, indent=1))


def record_crash(run_dir: Path, err: BaseException) -> str:
    """Write the error and its traceback; returns the one-line description."""
    line = f"{type(err).__name__}: {err}".splitlines()[0]
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / ERROR).write_text(line + "\n\n" + "".join(traceback.format_exception(err)))
    return line
