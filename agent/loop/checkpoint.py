"""Checkpoints on disk: written atomically, verified by checksum, loaded without unpickling
arbitrary objects.

    run_dir/checkpoints/ckpt-0000010000.pt     torch.save of tensors and plain containers
    run_dir/checkpoints/ckpt-0000010000.json   {"step", "sha256", "bytes"}, written last

A checkpoint counts only once its .json exists and the checksum matches, so a kill at any
moment leaves the previous one usable. A step is written once (training changes nothing
between two saves at one step): a new file over a good one would leave it, for a moment,
beside the old checksum.
"""

import hashlib
import json
import pickle
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from agent.loop.files import write_atomically, write_text_atomically

SLOW_SECONDS = 10.0


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and why."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save(folder: Path, step: int, state: dict[str, Any], keep: int = 3) -> Path:
    """Write `state` as the checkpoint of `step`; keep the newest `keep` checkpoints."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"ckpt-{step:010d}.pt"
    tic = time.perf_counter()
    write_atomically(path, lambda f: torch.save(state, f))
    meta = {"step": step, "sha256": _sha256(path), "bytes": path.stat().st_size}
    write_text_atomically(path.with_suffix(".json"), json.dumps(meta))
    # Only checkpoints up to this one count toward `keep`: one newer than the step a run
    # resumed from is one that failed its checksum then (latest skipped it), and counting
    # it would delete the good ones, this one included.
    kept = [meta for meta in sorted(folder.glob("ckpt-*.json"))
            if meta.with_suffix(".pt") <= path]
    for old in kept[:-keep]:
        old.unlink()
        old.with_suffix(".pt").unlink(missing_ok=True)
    # A kill between a checkpoint and its checksum leaves the file alone; once a newer
    # checkpoint is complete, resuming can never use it, so it goes.
    for orphan in sorted(folder.glob("ckpt-*.pt")):
        if orphan < path and not orphan.with_suffix(".json").exists():
            orphan.unlink()
            print(f"removed {orphan.name}: it has no checksum file (its run stopped while "
                  f"writing it), and {path.name} is newer", file=sys.stderr)
    seconds = time.perf_counter() - tic
    if seconds > SLOW_SECONDS:  # large replays make large checkpoints: say what they cost
        print(f"checkpoint {path.name}: {meta['bytes'] / 1024**3:.2f} GiB written in "
              f"{seconds:.0f} s", file=sys.stderr)
    return path


def load(path: Path) -> dict[str, Any]:
    """Tensors and plain containers only (weights_only): a file that would run code while
    unpickling is refused."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(f"{path} holds objects other than tensors and plain data and "
                              f"was not loaded ({str(err).splitlines()[0]})") from None
    except (RuntimeError, EOFError, OSError) as err:
        raise CheckpointError(f"{path} cannot be read: {err}") from None


def verified(path: Path) -> bool:
    meta_path = path.with_suffix(".json")
    if not meta_path.exists():
        return False
    try:
        meta = json.loads(meta_path.read_text())
        size, digest = meta["bytes"], meta["sha256"]
    except (ValueError, KeyError, TypeError):
        return False  # not a checksum file of ours
    return path.exists() and path.stat().st_size == size and _sha256(path) == digest


def latest(folder: Path) -> Path | None:
    """The newest checkpoint whose checksum matches, warning about any newer broken one."""
    for meta_path in sorted(folder.glob("ckpt-*.json"), reverse=True):
        path = meta_path.with_suffix(".pt")
        if verified(path):
            return path
        warnings.warn(f"checkpoint {path} is truncated or corrupted (checksum mismatch); "
                      f"using an earlier one", stacklevel=2)
    return None


def find(target: Path) -> Path:
    """A checkpoint file, or the latest valid one of a run folder."""
    if target.is_file() and target.suffix == ".json" and target.with_suffix(".pt").exists():
        raise CheckpointError(f"{target} is the checksum file of a checkpoint; pass the "
                              f"checkpoint beside it, {target.with_suffix('.pt')}")
    if target.is_file():
        if not target.with_suffix(".json").exists():
            warnings.warn(f"{target} has no checksum file ({target.with_suffix('.json').name}) "
                          f"beside it: loaded without verifying it", stacklevel=2)
        elif not verified(target):
            raise CheckpointError(f"{target} does not match the checksum in "
                                  f"{target.with_suffix('.json').name}: it is damaged or "
                                  f"incomplete")
        return target
    found = latest(target / "checkpoints") if target.is_dir() else None
    if found is None and (target / "config.yaml").exists():
        raise CheckpointError(f"{target} is a run folder with no valid checkpoint (none "
                              f"written yet, or each is damaged)")
    if found is None:
        raise CheckpointError(f"{target} is neither a checkpoint file nor a run folder with a "
                              f"valid checkpoint in checkpoints/")
    return found
