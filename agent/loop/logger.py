"""Where metrics go: run_dir/metrics.jsonl, wandb (offline by default) and a progress bar.

Every key is namespaced; NAMESPACES is the one list of them.
"""

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from agent.config import WandbConfig
from agent.errors import ConfigError
from agent.loop.metrics_file import METRICS

NAMESPACES = ("train", "eval", "loss", "quant", "model", "perf")


class MetricMeans:
    """Sums tensors across updates and reads them back in one host sync."""

    def __init__(self):
        self.sums: dict[str, Tensor] = {}
        self.count = 0

    def add(self, metrics: dict[str, Tensor]) -> None:
        for key, value in metrics.items():
            value = value.detach().float()
            self.sums[key] = self.sums[key] + value if key in self.sums else value
        self.count += 1

    def state_dict(self) -> dict:
        return {"sums": dict(self.sums), "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.sums, self.count = dict(state["sums"]), state["count"]

    def pop(self) -> dict[str, float]:
        if not self.sums:
            return {}
        keys = list(self.sums)
        values = torch.stack([self.sums[k] for k in keys]).cpu().tolist()
        means = {k: v / self.count for k, v in zip(keys, values, strict=True)}
        self.sums, self.count = {}, 0
        return means


class WandbStartError(ConfigError):
    """wandb could not start and wandb.fallback=error."""


def wandb_mode(cfg: WandbConfig) -> str:
    """The mode a run can start wandb in, checked before anything is written: an online run
    without an API key stops (fallback=error) or goes offline with one warning line."""
    if cfg.mode != "online":
        return cfg.mode
    import wandb

    if wandb.login(prompt=False, verify=False):  # a key from the env, settings or .netrc
        return "online"
    if cfg.fallback == "error":
        raise WandbStartError("wandb.mode=online but no wandb API key is configured "
                              "(WANDB_API_KEY or `wandb login`); log in, or pass "
                              "wandb.mode=offline and upload later with `wandb sync`")
    print("wandb: no API key configured; logging offline instead (wandb.fallback=offline; "
          "`wandb sync` uploads it later)", file=sys.stderr)
    return "offline"


def start_wandb(run_dir: Path, config: dict[str, Any], cfg: WandbConfig, mode: str,
                resume_id: str | None):
    """wandb.init, waiting at most cfg.init_timeout for the server; an online start that
    fails falls back to offline (one warning line) or raises WandbStartError."""
    import wandb

    def init(mode: str):
        return wandb.init(
            project=cfg.project, entity=cfg.entity, group=cfg.group, tags=list(cfg.tags),
            config=config, dir=str(run_dir), mode=mode, name=run_dir.name,
            reinit="finish_previous", id=resume_id, resume="allow" if resume_id else None,
            settings=wandb.Settings(init_timeout=cfg.init_timeout))

    try:
        return init(mode)
    except Exception as err:  # wandb's CommError, UsageError, timeouts, ...
        reason = (str(err).splitlines() or [type(err).__name__])[0]
        if mode != "online" or cfg.fallback == "error":
            raise WandbStartError(f"wandb could not start ({reason}); check the connection "
                                  f"and key, or pass wandb.mode=offline") from None
        print(f"wandb could not start online ({reason}); logging offline instead "
              f"(`wandb sync` uploads it later)", file=sys.stderr)
        return init("offline")


class Logger:
    """wandb starts first, so that a failed start leaves no metrics file; metrics.jsonl is
    opened at the first event."""

    def __init__(self, run_dir: Path, config: dict[str, Any], wandb_cfg: WandbConfig,
                 total_steps: int, progress: bool = True, resume_id: str | None = None,
                 wandb_mode: str | None = None):
        mode = wandb_mode or wandb_cfg.mode
        self.run = (start_wandb(run_dir, config, wandb_cfg, mode, resume_id)
                    if mode != "disabled" else None)
        self.path = run_dir / METRICS
        self.file = None
        self.bar = tqdm(total=total_steps, unit="step", disable=not progress,
                        dynamic_ncols=True, mininterval=1.0)
        self.last: dict[str, float] = {}
        # Published DMC and Atari scores count frames: agent steps x action repeat.
        self.frames_per_step = int(config.get("env", {}).get("action_repeat", 1))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """One JSON line {"step": env_steps, "frames": env_steps x env.action_repeat,
        namespace/key: value, ...}, and the same to wandb."""
        for key in metrics:
            if key.split("/", 1)[0] not in NAMESPACES or "/" not in key:
                raise KeyError(f"metric {key!r} is outside the namespaces {NAMESPACES}")
        clean = {k: (float(v) if math.isfinite(v) else None) for k, v in metrics.items()}
        if self.file is None:
            self.file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        frames = step * self.frames_per_step
        self.file.write(json.dumps({"step": step, "frames": frames, **clean}) + "\n")
        self.file.flush()
        if self.run is not None:
            self.run.log({**metrics, "frames": frames}, step=step)
        self.last.update(metrics)

    def code_usage(self, step: int, counts: Tensor, max_groups: int = 8) -> None:
        """wandb histograms of how often each code was hit in the last batch, per group
        (the first `max_groups`) and over all groups."""
        if self.run is None:
            return
        import wandb

        counts = counts.detach().cpu().numpy()
        edges = np.arange(counts.shape[1] + 1)
        hists = {f"quant/usage_group{g}": wandb.Histogram(np_histogram=(counts[g], edges))
                 for g in range(min(max_groups, counts.shape[0]))}
        hists["quant/usage_all"] = wandb.Histogram(np_histogram=(counts.sum(0), edges))
        self.run.log(hists, step=step)

    def media(self, step: int, key: str, path: Path) -> None:
        """A file already written into run_dir (mp4 video or png image), also sent to wandb."""
        if self.run is None:
            return
        import wandb

        media = wandb.Video(str(path)) if path.suffix == ".mp4" else wandb.Image(str(path))
        self.run.log({key: media}, step=step)

    def progress(self, steps: int) -> None:
        """Advance the bar by `steps` env steps, showing rates and the last eval return."""
        postfix = {}
        for key, label in (("perf/env_steps_per_s", "sps"), ("perf/updates_per_s", "ups"),
                           ("eval/return", "eval")):
            if key in self.last:
                postfix[label] = f"{self.last[key]:.1f}"
        if postfix and self.bar.n % 100 < steps:
            self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(steps)

    def sync(self) -> None:
        """Make the events logged so far durable (before a checkpoint that follows them)."""
        if self.file is not None:
            self.file.flush()
            os.fsync(self.file.fileno())

    def close(self) -> None:
        self.bar.close()
        if self.file is not None:
            self.file.close()
        if self.run is not None:
            self.run.finish()
