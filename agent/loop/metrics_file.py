"""Reading a run's metrics.jsonl: one JSON event per line, appended as the run goes.

A run stopped in the middle of a write (a full disk, a file-size limit, a kill, a host
crash) can leave its last line cut short (or NUL bytes where it was): that tail is not an
event and is left out, with a warning (a resume cuts the file back to its checkpoint, and
the steps after it are trained and logged again). A damaged line before the last is an
error that names it: nothing a run writes can cause one.
"""

import json
import warnings
from pathlib import Path

METRICS = "metrics.jsonl"


class MetricsError(ValueError):
    """A metrics file with a damaged line before its last; the message names the line."""


def read_lines(path: Path) -> list[tuple[str, dict]]:
    """Each complete event of the file as (its line, the parsed event)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    tail = lines.pop()  # "" when the file ends with its newline, as a run writes it
    events = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            events.append((line, json.loads(line)))
        except ValueError as err:
            raise MetricsError(f"{path} line {number} is not a JSON event ({err}): "
                               f"restore or delete that line") from None
    if tail.strip():
        try:
            events.append((tail, json.loads(tail)))
        except ValueError:
            warnings.warn(f"{path}: its last line was cut short (the run stopped while "
                          f"writing it) and is left out", stacklevel=2)
    return events


def read_events(path: Path) -> list[dict]:
    return [event for _, event in read_lines(path)]


def events_until(path: Path, step: int) -> str:
    """The file's text with only the events up to `step`, each line as it was written."""
    return "".join(line + "\n" for line, event in read_lines(path) if event["step"] <= step)
