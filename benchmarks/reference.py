"""Published and measured reference scores (benchmarks/reference_scores.json), as data.

    reference_value("dmc_proprio", "walker_walk", 100_000)   # DreamerV3 at 100k frames: 518

Every entry names its source and the unit of its budget: `frames` (env frames, as the
Dreamer family reports DMC and Atari: a DMC episode is 1,000 frames whatever the action
repeat) or `env_steps`.
"""

import json
from functools import cache
from pathlib import Path

PATH = Path(__file__).resolve().parent / "reference_scores.json"
REQUIRED = ("suite", "task", "agent", "metric", "budget", "unit", "value", "source")
UNITS = ("frames", "env_steps")


class ReferenceError(ValueError):
    """reference_scores.json is malformed; the message names the entry."""


@cache
def load(path: Path = PATH) -> tuple[dict, ...]:
    """Every entry, checked: the required keys, a known unit, a number and a source."""
    entries = json.loads(Path(path).read_text())["entries"]
    for i, entry in enumerate(entries):
        missing = [key for key in REQUIRED if key not in entry]
        if missing or entry["unit"] not in UNITS or not entry["source"].strip():
            raise ReferenceError(f"{path} entry {i} ({entry.get('task')}): missing "
                                 f"{missing or 'a source'} or a unit outside {UNITS}")
        if not isinstance(entry["value"], int | float):
            raise ReferenceError(f"{path} entry {i}: value {entry['value']!r} is not a number")
    return tuple(entries)


def find(suite: str, task: str, budget: int | None, agent: str = "dreamerv3",
         metric: str | None = None) -> dict | None:
    """The entry for (suite, task, budget in the entry's unit, agent), or None."""
    for entry in load():
        if (entry["suite"], entry["task"], entry["budget"], entry["agent"]) == (
                suite, task, budget, agent) and metric in (None, entry["metric"]):
            return entry
    return None


def reference_value(suite: str, task: str, budget: int | None, agent: str = "dreamerv3",
                    metric: str | None = None) -> float | None:
    """The reference value for (suite, task, budget), or None where none is published."""
    entry = find(suite, task, budget, agent, metric)
    return None if entry is None else float(entry["value"])
