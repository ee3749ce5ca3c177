"""Checks and settings a run makes before it writes anything: device, seeding, memory for
replay, and whether its folder is free."""

import os
import random
import sys
from pathlib import Path

import torch

from agent.errors import ConfigError


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


def available_memory() -> int:
    """Bytes the OS reports as available (MemAvailable), or physical memory elsewhere."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(replay_bytes: int, capacity: int) -> None:
    available = available_memory()
    gib = 1024**3
    # Writing a checkpoint copies the replay's kept steps: count them twice.
    if 2 * replay_bytes > available:
        raise ConfigError(f"replay.capacity={capacity} needs {replay_bytes / gib:.1f} GiB of "
                          f"replay memory, and as much again while a checkpoint is written, "
                          f"but {available / gib:.1f} GiB is available; lower "
                          f"replay.capacity")
    print(f"replay: {capacity} steps preallocated, {replay_bytes / gib:.3f} GiB "
          f"({available / gib:.1f} GiB available)", file=sys.stderr)


def check_run_dir(run_dir: Path) -> None:
    """A run folder may exist only if it is empty: nothing of an earlier run is overwritten."""
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise ConfigError(f"run_dir={str(run_dir)!r} already exists and is not empty; "
                          f"pass a new run_dir")
