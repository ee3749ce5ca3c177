"""How many steps replay keeps: a size that fits this machine and this observation
(`replay.capacity=auto`), or a given size checked against the memory available."""

import os
import sys

from agent.errors import ConfigError

GIB = 1024**3
MAX_AUTO_STEPS = 1_000_000
AUTO_SHARE = 0.5
"""Share of the available memory that `auto` lets replay use, counting it twice: the buffer,
and its copy while a checkpoint is written."""


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


def replay_capacity(setting: int | str, bytes_per_step: int, minimum: int,
                    available: int | None = None, sharing: int = 1) -> tuple[int, str]:
    """The capacity in steps and why: for `auto`, the largest up to 1M steps whose buffer
    and checkpoint copy fit in this run's part of AUTO_SHARE of the available memory (one of
    `sharing` runs started together); a given number is refused if both do not fit in all
    of it."""
    available = available_memory() if available is None else available
    if setting == "auto":
        fits = int(AUTO_SHARE * available / (2 * bytes_per_step * max(1, sharing)))
        capacity = max(min(MAX_AUTO_STEPS, fits), minimum)
        part = f"{AUTO_SHARE:.0%}" if sharing <= 1 else f"1/{sharing} of {AUTO_SHARE:.0%}"
        why = ("replay.capacity=auto: " + ("1M steps, the most auto takes" if fits >= MAX_AUTO_STEPS
               else f"the most steps whose buffer and checkpoint copy fit in "
                    f"{part} of the {available / GIB:.1f} GiB available"))
        return capacity, why
    capacity = int(setting)
    needed = capacity * bytes_per_step
    if 2 * needed > available:
        raise ConfigError(f"replay.capacity={capacity} needs {needed / GIB:.1f} GiB of "
                          f"replay memory, and as much again while a checkpoint is written, "
                          f"but {available / GIB:.1f} GiB is available; lower "
                          f"replay.capacity, or use replay.capacity=auto")
    return capacity, f"replay.capacity={capacity}"


def announce(capacity: int, bytes_per_step: int, why: str) -> None:
    size = capacity * bytes_per_step / GIB
    print(f"replay: {capacity} steps preallocated, {size:.3f} GiB ({why}; "
          f"{available_memory() / GIB:.1f} GiB available)", file=sys.stderr)
    if size >= 1:
        print(f"replay: checkpoints hold the replay, up to {size:.1f} GiB each; writing one "
              f"takes seconds to minutes, and each write's time is printed", file=sys.stderr)
