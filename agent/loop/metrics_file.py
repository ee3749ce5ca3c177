"""Reading a run's metrics.jsonl: one JSON event per line, appended as the run goes, its
env step never going back.

A run stopped in the middle of a write (a full disk, a file-size limit, a kill, a host
crash) can leave its last line cut short (or NUL bytes where it was): that tail is not an
event and is left out, with a warning. A damaged line before the last is an error that
names it, except after the events a resume keeps: what a run wrote after its checkpoint
is cut anyway (and every event up to a checkpoint was fsynced before it).
"""

import json
import warnings
from pathlib import Path

METRICS = "metrics.jsonl"


class MetricsError(ValueError):
    """A metrics file with a damaged line before its last; the message names the line."""


def read_lines(path: Path, until_step: int | None = None) -> list[tuple[str, dict]]:
    """Each complete event of the file as (its line, the parsed event); with `until_step`,
    only the events up to that step, and damage after the last of them is not an error
    (what a stopped run wrote after its checkpoint, which a resume cuts anyway)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    tail = lines.pop()  # "" when the file ends with its newline, as a run writes it
    parsed = [(number, line, parse(line)) for number, line in enumerate(lines, 1)
              if line.strip()]
    if until_step is not None:
        kept = [i for i, (_, _, event) in enumerate(parsed)
                if event is not None and event["step"] <= until_step]
        parsed = parsed[:kept[-1] + 1] if kept else []
    for number, _, event in parsed:
        if event is None:
            raise MetricsError(f"{path} line {number} is not a JSON event with a step: "
                               f"restore or delete that line")
    events = [(line, event) for _, line, event in parsed
              if until_step is None or event["step"] <= until_step]
    event = parse(tail) if tail.strip() else None
    if tail.strip() and event is None and until_step is None:
        warnings.warn(f"{path}: its last line was cut short (the run stopped while writing "
                      f"it) and is left out", stacklevel=2)
    elif event is not None and (until_step is None or event["step"] <= until_step):
        events.append((tail, event))
    return events


def parse(line: str) -> dict | None:
    """The event a line holds, or None if it is not one."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("step"), int) else None


def read_events(path: Path) -> list[dict]:
    return [event for _, event in read_lines(path)]


def events_until(path: Path, step: int) -> str:
    """The file's text with only the events up to `step`, each line as it was written."""
    return "".join(line + "\n" for line, _ in read_lines(path, until_step=step))


def logged_past(path: Path, step: int) -> bool:
    """Whether the file holds an event after `step` (a run stopped after its checkpoint
    logged on); lines that are not events are passed over."""
    if not path.exists():
        return False
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return any((event := parse(line)) is not None and event["step"] > step for line in lines)
