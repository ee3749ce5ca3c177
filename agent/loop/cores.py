"""How many torch threads a run takes: threads=0 means every core this process may use,
which is a poor choice when other work keeps some of those cores busy (torch's threads
wait on each other at every operation, so one that shares a core holds back the rest;
measured here: an update several times slower)."""

import math
import os
import time
import warnings
from pathlib import Path

import torch

# A container's CPU limit (docker --cpus, a Kubernetes limit): cgroup v2's one file, then
# cgroup v1's pair. Each holds the time the group may run per period, or no limit.
CPU_LIMIT_FILES = (("/sys/fs/cgroup/cpu.max", None),
                   ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us"))


def cpu_limit(files=CPU_LIMIT_FILES) -> int | None:
    """The cores' worth of time a cgroup limit allows, rounded up; None without one (no
    limit, not Linux, or files that cannot be read)."""
    for quota_file, period_file in files:
        try:
            fields = Path(quota_file).read_text().split()
            if period_file is not None:
                fields = fields[:1] + Path(period_file).read_text().split()[:1]
            quota, period = fields[0], int(fields[1])
            if quota in ("max", "-1"):
                return None
            return max(1, math.ceil(int(quota) / period))
        except (OSError, IndexError, ValueError, ZeroDivisionError):
            continue
    return None


def usable_cores() -> int:
    """The cores this process may run on: its CPU set (taskset, a batch scheduler's
    allocation, a pinned container), further capped by a container's CPU time limit;
    either may be fewer than the machine has."""
    cores, limit = cpu_set_size(), cpu_limit()
    return min(cores, limit) if limit else cores


def cpu_set_size() -> int:
    """The CPUs this process may be scheduled on (its affinity), without any time limit."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_times(cpus: set[int]) -> dict[int, tuple[int, int]]:
    """Per CPU in `cpus`: (all time, idle time) so far, in clock ticks (Linux /proc/stat)."""
    times = {}
    with open("/proc/stat") as stat:
        for line in stat:
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                ticks = [int(v) for v in fields[:8]]  # user nice system idle iowait irq ...
                times[int(name[3:])] = (sum(ticks), ticks[3] + ticks[4])
    return times


def busy_cpus(seconds: float = 0.25) -> int | None:
    """How many of this process's CPUs were more than half busy over the next `seconds`,
    while this process sleeps (so the work counted is mostly others'; threads of its own
    still spinning down count too); None where Linux's /proc/stat or the CPU set cannot be
    read or parsed: the count only feeds a warning, and a run never stops for it."""
    try:
        cpus = os.sched_getaffinity(0)
        before = cpu_times(cpus)
        time.sleep(seconds)
        after = cpu_times(cpus)
    except (AttributeError, OSError, IndexError, ValueError):
        return None
    busy = 0
    for cpu, (total, idle) in after.items():
        total_before, idle_before = before.get(cpu, (total, idle))
        elapsed, idled = total - total_before, idle - idle_before
        busy += elapsed > 0 and elapsed - idled > elapsed / 2
    return busy


def busy_cores_warning(threads: int, cores: int, busy: int | None) -> str | None:
    """What to say when threads=0 gives torch all `cores` while `busy` of them run other
    work; None when the user chose the threads, nothing else runs, or there is no choice."""
    if threads or cores < 2 or not busy:
        return None
    busy, idle = min(busy, cores), cores - min(busy, cores)
    advice = ("threads=1 for each run that shares these cores" if not idle else
              f"threads={idle} (the idle {'core' if idle == 1 else 'cores'}), or threads=1 "
              f"for each of several runs side by side")
    return (f"threads=0 gives torch all {cores} cores, but {busy} of them "
            f"{'is' if busy == 1 else 'are'} busy with other processes; torch's threads then "
            f"wait on the busy ones and updates can slow down several-fold: set {advice}")


def set_torch_threads(threads: int) -> None:
    """threads=0: every usable core (torch's own default counts the machine's cores, not
    the CPU set or a container's limit)."""
    torch.set_num_threads(threads or usable_cores())


def warn_if_cores_busy(threads: int, device: torch.device) -> None:
    """On the CPU with threads=0, a warning when other processes keep some of its cores
    busy (measured at this call, a quarter of a second)."""
    if threads == 0 and device.type == "cpu":
        cores, busy = usable_cores(), busy_cpus()
        if busy is not None:
            # Under a container's time limit the threads may run on any idle CPU of the
            # set: only fewer idle CPUs than usable cores slows them down.
            busy = max(0, busy - (cpu_set_size() - cores))
        if message := busy_cores_warning(threads, cores, busy):
            warnings.warn(message, stacklevel=3)
