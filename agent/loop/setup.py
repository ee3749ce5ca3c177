"""Checks and settings a run makes before it writes anything: device, seeding, and whether
its folder is free (replay's memory: memory.py; torch threads: cores.py)."""

import random
from pathlib import Path

import torch

from agent.errors import ConfigError
from agent.loop.lock import LOCK_FILE, check_free


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} but no CUDA GPU is visible; use device=cpu or auto")
    return device


def seed_global_rngs(seed: int) -> None:
    """torch's and Python's global generators (numpy's global one is not used: every numpy
    draw in a run comes from a Generator of its own, see agent/seeds.py)."""
    random.seed(seed)
    torch.manual_seed(seed)


def check_run_dir(run_dir: Path) -> None:
    """A run folder may exist only if it is empty (but for a lock file left by a run that
    could not start): nothing of an earlier run is overwritten. A folder a live run holds
    is refused naming that run."""
    check_free(run_dir)
    check_empty(run_dir)


def check_empty(run_dir: Path) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"run_dir={str(run_dir)!r} is a file, not a folder; pass a new "
                          f"run_dir")
    if run_dir.exists() and any(p.name != LOCK_FILE for p in run_dir.iterdir()):
        # A run of ours is continued with resume=, never by starting in its folder again.
        finished = (run_dir / "summary.json").exists()
        resumable = finished or any((run_dir / "checkpoints").glob("ckpt-*.pt"))
        hint = (f" (it holds a {'finished ' if finished else ''}run: resume={run_dir} "
                f"{'with steps=N trains it longer' if finished else 'continues it'})"
                if resumable else "")
        raise ConfigError(f"run_dir={str(run_dir)!r} already exists and is not empty{hint}; "
                          f"pass a new run_dir")
