"""Counters of a run, and the rates since the last log event."""

import dataclasses
import time

import numpy as np

from agent.loop.driver import Episode


@dataclasses.dataclass
class Clock:
    steps: int = 0
    updates: int = 0
    train_time: float = 0.0
    episodes: list = dataclasses.field(default_factory=list)  # finished since the last log
    last_log: int = 0
    last_updates: int = 0
    last_eval: int = 0
    last_checkpoint: int = 0
    wall_before: float = 0.0  # wall seconds of earlier sessions of a resumed run
    start: float = dataclasses.field(default_factory=time.perf_counter)
    last_time: float = dataclasses.field(default_factory=time.perf_counter)

    COUNTERS = ("steps", "updates", "last_log", "last_updates", "last_eval", "last_checkpoint")

    def wall(self) -> dict[str, float]:
        return {"perf/wall_s": self.wall_before + time.perf_counter() - self.start}

    def lap(self) -> dict[str, float]:
        now = time.perf_counter()
        elapsed = max(now - self.last_time, 1e-9)
        metrics = {
            "train/updates": float(self.updates),
            "train/episodes_finished": float(len(self.episodes)),
            "perf/env_steps_per_s": (self.steps - self.last_log) / elapsed,
            "perf/updates_per_s": (self.updates - self.last_updates) / elapsed,
            "perf/train_time_frac": self.train_time / elapsed,
            **self.wall(),
        }
        if self.episodes:
            metrics["train/return"] = float(np.mean([e.ret for e in self.episodes]))
            metrics["train/length"] = float(np.mean([e.length for e in self.episodes]))
        self.episodes, self.train_time = [], 0.0
        self.last_log, self.last_updates, self.last_time = self.steps, self.updates, now
        return metrics

    def state_dict(self) -> dict:
        return {**{k: getattr(self, k) for k in self.COUNTERS},
                "episodes": [[e.ret, e.length] for e in self.episodes],
                "wall_s": self.wall()["perf/wall_s"]}

    def load_state_dict(self, state: dict) -> None:
        for key in self.COUNTERS:
            setattr(self, key, state[key])
        self.episodes = [Episode(ret, length) for ret, length in state["episodes"]]
        self.wall_before = state["wall_s"]
        self.start = self.last_time = time.perf_counter()
