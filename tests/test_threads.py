"""threads=0 takes every usable core, and says so when other processes keep some busy."""

import os
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager

import pytest
import torch

from agent.loop import cores
from agent.loop.cores import (
    busy_cores_warning,
    busy_cpus,
    cpu_limit,
    cpu_set_size,
    set_torch_threads,
    usable_cores,
    warn_if_cores_busy,
)

SPIN = "import time\nend = time.time() + 20\nwhile time.time() < end: pass"


@contextmanager
def spinning_on_every_usable_core():
    """One busy-looping process pinned to each core this process may use."""
    procs = []
    try:
        for cpu in sorted(os.sched_getaffinity(0)):
            proc = subprocess.Popen([sys.executable, "-c", SPIN])
            os.sched_setaffinity(proc.pid, {cpu})
            procs.append(proc)
        time.sleep(0.5)  # the interpreters start and begin to spin
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_no_warning_when_threads_are_chosen_or_cores_are_idle():
    assert busy_cores_warning(threads=1, cores=2, busy=2) is None  # the user chose
    assert busy_cores_warning(threads=0, cores=2, busy=0) is None  # nothing else runs
    assert busy_cores_warning(threads=0, cores=2, busy=None) is None  # not measurable here
    assert busy_cores_warning(threads=0, cores=1, busy=1) is None  # one core: no choice


def test_warning_names_the_busy_cores_and_the_idle_ones_to_use():
    message = busy_cores_warning(threads=0, cores=8, busy=3)
    assert "all 8 cores, but 3 of them are busy" in message and "set threads=5" in message
    message = busy_cores_warning(threads=0, cores=2, busy=1)
    assert "but 1 of them is busy" in message and "set threads=1 (the idle core)" in message
    message = busy_cores_warning(threads=0, cores=2, busy=2)  # every core busy
    assert "set threads=1 for each run" in message


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux CPU sets")
def test_busy_cpus_counts_cpus_busy_more_than_half_the_time(monkeypatch):
    """(all, idle) ticks before and after: CPU 0 busy 60%, 1 busy 50%, 2 idle, 3 with no
    time passed, 4 missing from the first reading."""
    readings = iter([{0: (100, 50), 1: (100, 50), 2: (100, 50), 3: (100, 50)},
                     {0: (200, 90), 1: (200, 100), 2: (200, 150), 3: (100, 50), 4: (9, 0)}])
    monkeypatch.setattr(cores, "cpu_times", lambda cpus: next(readings))
    assert busy_cpus(seconds=0) == 1


@pytest.mark.parametrize("error", [OSError, ValueError, IndexError])
def test_busy_cpus_is_none_where_proc_stat_cannot_be_read(monkeypatch, error):
    def unreadable(cpus):
        raise error("an odd /proc/stat")

    monkeypatch.setattr(cores, "cpu_times", unreadable)
    assert busy_cpus(seconds=0) is None


def test_cpu_limit_reads_cgroup_v2_and_v1_quotas(tmp_path):
    def files(**texts):
        for name, text in texts.items():
            (tmp_path / name).write_text(text)
        return tmp_path

    d = files(v2="150000 100000\n", v2_none="max 100000\n", quota="200000\n",
              period="100000\n", no_quota="-1\n", bad="lots\n")
    assert cpu_limit([(d / "v2", None)]) == 2  # 1.5 cores' time: two threads can use it
    assert cpu_limit([(d / "v2_none", None)]) is None
    assert cpu_limit([(d / "missing", None), (d / "quota", d / "period")]) == 2
    assert cpu_limit([(d / "no_quota", d / "period")]) is None
    assert cpu_limit([(d / "bad", None), (d / "quota", d / "period")]) == 2


def test_a_part_core_quota_rounds_up_and_a_zero_quota_still_counts_one_core(tmp_path):
    (tmp_path / "half").write_text("50000 100000\n")
    (tmp_path / "zero").write_text("0 100000\n")
    assert cpu_limit([(tmp_path / "half", None)]) == 1
    assert cpu_limit([(tmp_path / "zero", None)]) == 1


def test_usable_cores_is_capped_by_a_container_limit(monkeypatch):
    monkeypatch.setattr(cores, "cpu_limit", lambda: None)  # whatever limit this machine has
    uncapped = usable_cores()
    assert uncapped == cpu_set_size()
    monkeypatch.setattr(cores, "cpu_limit", lambda: 1)
    assert usable_cores() == 1
    monkeypatch.setattr(cores, "cpu_limit", lambda: uncapped + 5)
    assert usable_cores() == uncapped


def test_under_a_time_limit_only_a_shortage_of_idle_cpus_is_warned_of(monkeypatch):
    """A 4-core limit on 64 CPUs: 40 busy leave 24 idle for the 4 threads (no warning);
    62 busy leave 2 idle, so 2 of the 4 threads would share a busy CPU."""
    monkeypatch.setattr(cores, "cpu_set_size", lambda: 64)
    monkeypatch.setattr(cores, "cpu_limit", lambda: 4)
    monkeypatch.setattr(cores, "busy_cpus", lambda: 40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_cores_busy(0, torch.device("cpu"))
    monkeypatch.setattr(cores, "busy_cpus", lambda: 62)
    with pytest.warns(UserWarning, match="all 4 cores, but 2 of them are busy.*threads=2 "):
        warn_if_cores_busy(0, torch.device("cpu"))


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux CPU sets")
def test_busy_cpus_counts_cores_that_other_processes_keep_busy():
    with spinning_on_every_usable_core():
        assert busy_cpus() == usable_cores()


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or usable_cores() < 2,
                    reason="Linux CPU sets, and a choice of cores")
def test_threads_zero_warns_beside_busy_processes_and_uses_every_core_anyway():
    before = torch.get_num_threads()
    try:
        with spinning_on_every_usable_core():
            with pytest.warns(UserWarning, match=f"all {usable_cores()} cores, but "
                                                 f"{usable_cores()} of them are busy"):
                warn_if_cores_busy(0, torch.device("cpu"))
            set_torch_threads(0)
            assert torch.get_num_threads() == usable_cores()
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # chosen threads, or a GPU run: no warning
                warn_if_cores_busy(1, torch.device("cpu"))
                warn_if_cores_busy(0, torch.device("cuda"))
            set_torch_threads(1)
            assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or usable_cores() < 2,
                    reason="Linux CPU sets, and a choice of cores")
def test_bad_input_beside_busy_cores_still_fails_with_one_line(tmp_path):
    """The warning comes after every check of the run: a refused run says only why."""
    from tests.test_cli import run

    with spinning_on_every_usable_core():
        result = run("preset=debug", f"run_dir={tmp_path / 'run'}", "env.id=NoSuchEnv-v0",
                     cwd=tmp_path)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "NoSuchEnv-v0" in lines[0]
