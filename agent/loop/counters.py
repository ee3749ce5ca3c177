"""Counters of a run (env steps, updates, wall time, finished episodes) and the rates since
the last log event."""

import dataclasses
import time

import numpy as np

from agent.loop.driver import Episode


@dataclasses.dataclass
class Counters:
    steps: int = 0
    updates: int = 0
    train_time: float = 0.0  # seconds spent in updates since the last log event
    finished: list = dataclasses.field(default_factory=list)  # episodes since the last log
    last_log_steps: int = 0
    last_log_updates: int = 0
    wall_before: float = 0.0  # wall seconds of earlier sessions of a resumed run
    start: float = dataclasses.field(default_factory=time.perf_counter)
    last_log_time: float = dataclasses.field(default_factory=time.perf_counter)

    SAVED = ("steps", "updates", "last_log_steps", "last_log_updates")

    def wall(self) -> dict[str, float]:
        return {"perf/wall_s": self.wall_before + time.perf_counter() - self.start}

    def lap(self) -> dict[str, float]:
        """Rates and episode statistics since the last call, which starts a new lap."""
        now = time.perf_counter()
        elapsed = max(now - self.last_log_time, 1e-9)
        metrics = {
            "train/updates": float(self.updates),
            "train/episodes_finished": float(len(self.finished)),
            "perf/env_steps_per_s": (self.steps - self.last_log_steps) / elapsed,
            "perf/updates_per_s": (self.updates - self.last_log_updates) / elapsed,
            "perf/train_time_frac": self.train_time / elapsed,
            **self.wall(),
        }
        if self.finished:
            metrics["train/return"] = float(np.mean([e.ret for e in self.finished]))
            metrics["train/length"] = float(np.mean([e.length for e in self.finished]))
        self.finished, self.train_time = [], 0.0
        self.last_log_steps, self.last_log_updates, self.last_log_time = \
            self.steps, self.updates, now
        return metrics

    def state_dict(self) -> dict:
        return {**{k: getattr(self, k) for k in self.SAVED},
                "finished": [[e.ret, e.length] for e in self.finished],
                "wall_s": self.wall()["perf/wall_s"]}

    def load_state_dict(self, state: dict) -> None:
        for key in self.SAVED:
            setattr(self, key, state[key])
        self.finished = [Episode(ret, length) for ret, length in state["finished"]]
        self.wall_before = state["wall_s"]
        self.start = self.last_log_time = time.perf_counter()
