"""Stopping between steps on SIGINT and SIGTERM."""

import signal


class StopSignal:
    """Turns SIGINT and SIGTERM (Ctrl-C, cluster preemption) into a flag the loop checks, so
    the run ends between steps with a checkpoint and closed logs."""

    def __init__(self):
        self.received: str | None = None
        self.previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.previous[sig] = signal.signal(sig, self.handle)
            except ValueError:  # not the main thread (e.g. a thread-based launcher)
                pass

    def handle(self, signum, frame) -> None:
        self.received = signal.Signals(signum).name

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
