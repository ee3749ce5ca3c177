"""threads=0 takes every usable core, and says so when other processes keep some busy."""

import os
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager

import pytest
import torch

from agent.loop.cores import busy_cores_warning, busy_cpus, set_torch_threads, usable_cores

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
                set_torch_threads(0, torch.device("cpu"))
            assert torch.get_num_threads() == usable_cores()
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # chosen threads, or a GPU run: no warning
                set_torch_threads(1, torch.device("cpu"))
                assert torch.get_num_threads() == 1
                set_torch_threads(0, torch.device("cuda"))
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
