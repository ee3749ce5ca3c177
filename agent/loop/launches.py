"""Every launch of a multirun keeps its record: Hydra writes sweeps/<sweep>/multirun.yaml
at each launch, so running a sweep again (more seeds, another arm) would overwrite what
the earlier launch asked for. The earlier file is kept as multirun-<its time>.yaml."""

import time
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

LAUNCH_RECORD = "multirun.yaml"


def keep_earlier_launch(sweep_dir: Path) -> Path | None:
    """Rename an earlier launch's multirun.yaml by the time it was written; None if there
    is none. A second launch within the same second gets a numbered name."""
    record = sweep_dir / LAUNCH_RECORD
    if not record.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(record.stat().st_mtime))
    target, n = sweep_dir / f"multirun-{stamp}.yaml", 1
    while target.exists():
        n += 1
        target = sweep_dir / f"multirun-{stamp}-{n}.yaml"
    record.rename(target)
    return target


class KeepEarlierLaunches(Callback):
    """Hydra calls this before its sweeper writes the new multirun.yaml."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        keep_earlier_launch(Path(config.hydra.sweep.dir))
