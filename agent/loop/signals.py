"""Stopping between steps on SIGINT and SIGTERM."""

import signal
from collections.abc import Iterator
from contextlib import contextmanager


class StartupTerminated(KeyboardInterrupt):
    """SIGTERM while a run starts: handled as Ctrl-C is then (the start is undone), and the
    process ends with SIGTERM's shell code, 143."""


SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143, "SIGUSR2": 140}  # the shell's: 128 + number
"""The exit status of a run stopped by each signal (with a checkpoint where it had one)."""


@contextmanager
def startup_stops_undo() -> Iterator[None]:
    """While a run takes its folder and starts its logger (wandb may take seconds), SIGTERM
    undoes the start, as Ctrl-C does, instead of killing the process half-way: a new folder
    is removed, a resumed one left as it was."""
    def handle(signum, frame):
        raise StartupTerminated()

    installed = False
    try:
        previous = signal.signal(signal.SIGTERM, handle)
        installed = True
    except ValueError:  # not the main thread (e.g. a thread-based launcher)
        pass
    try:
        yield
    finally:
        if installed:  # None: a handler set outside Python, which SIG_DFL stands for
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


class StopSignal:
    """Turns SIGINT, SIGTERM and SIGUSR2 (Ctrl-C, cluster preemption, the warning SLURM
    sends through submitit before a job's time limit) into a flag the loop checks, so the
    run ends between steps with a checkpoint and closed logs."""

    def __init__(self):
        self.received: str | None = None
        self.previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2):
            try:
                self.previous[sig] = signal.signal(sig, self.handle)
            except ValueError:  # not the main thread (e.g. a thread-based launcher)
                pass

    def handle(self, signum, frame) -> None:
        self.received = signal.Signals(signum).name

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
