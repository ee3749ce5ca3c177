"""threads=0 takes every usable core, and says so when other processes keep some busy."""

import warnings

import torch

from agent.loop.setup import busy_cores_warning, set_torch_threads, usable_cores


def test_no_warning_when_threads_are_chosen_or_cores_are_idle():
    assert busy_cores_warning(threads=1, cores=2, load=2.0) is None  # the user chose
    assert busy_cores_warning(threads=0, cores=2, load=0.3) is None  # nothing else runs
    assert busy_cores_warning(threads=0, cores=1, load=3.0) is None  # one core: no choice


def test_warning_names_the_busy_cores_and_the_idle_ones_to_use():
    message = busy_cores_warning(threads=0, cores=8, load=2.6)
    assert "all 8 cores" in message and "about 3 of them are busy" in message
    assert "load average 2.6" in message and "set threads=5" in message
    # More load than cores: every core is busy, one thread per run.
    message = busy_cores_warning(threads=0, cores=2, load=4.0)
    assert "about 2 of them are busy" in message and "set threads=1 for each run" in message


def test_set_torch_threads_uses_every_usable_core_for_zero():
    before = torch.get_num_threads()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the machine may be busy with other tests
            set_torch_threads(0, torch.device("cpu"))
        assert torch.get_num_threads() == usable_cores()
        set_torch_threads(1, torch.device("cpu"))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
