"""Training runs as child processes that stop when their benchmark is stopped.

A benchmark trains each run in a `run.py` subprocess. Ctrl-C reaches them anyway (the
terminal signals the whole process group), but `kill PID` of a benchmark running in the
background would leave its runs training on as orphans, holding the cores and writing
into folders the next benchmark may be given. Importing this module (from the main
thread, as every benchmark script does through `common`) makes SIGTERM to the benchmark
reach its runs first: each saves a checkpoint and exits, so the same command resumes them;
every job started by `map_jobs` then reports how its run ended; then the benchmark ends as
SIGTERM would have ended it.
"""

import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

_running: set[subprocess.Popen] = set()
_lock = threading.Lock()
_jobs_left = threading.Condition(_lock)  # notified as each job of map_jobs returns
_jobs_in_flight = 0
_stopping = threading.Event()
REPORT_WAIT_S = 60  # how long a stopping benchmark waits for its jobs' last lines


class NotStarted(subprocess.CalledProcessError):
    """A run not started because its benchmark was being stopped (returncode: -signal)."""


def run_child(cmd: list[str]) -> None:
    """`subprocess.run(cmd, check=True)`, with the child stopped if the benchmark is."""
    with _lock:
        if _stopping.is_set():  # a job that had not started its run yet
            raise NotStarted(-signal.SIGTERM, cmd)
        child = subprocess.Popen(cmd)
        _running.add(child)
    try:
        code = child.wait()
    finally:
        with _lock:
            _running.discard(child)
    if code:
        raise subprocess.CalledProcessError(code, cmd)


def map_jobs(jobs: int, job: Callable, items: Iterable) -> list:
    """`[job(item) for item in items]`, `jobs` at a time in threads. A job that trains a run
    with `run_child` and prints how it ended gets to print it when the benchmark is stopped;
    a job not started by then is not started."""
    def counted(item):
        global _jobs_in_flight
        with _lock:
            if _stopping.is_set():
                return None
            _jobs_in_flight += 1
        try:
            return job(item)
        finally:
            with _lock:
                _jobs_in_flight -= 1
                _jobs_left.notify_all()

    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(counted, items))


def _stop_children_then_exit(signum, frame) -> None:
    with _lock:
        _stopping.set()
        children = list(_running)
    for child in children:
        child.send_signal(signal.SIGTERM)
    for child in children:
        child.wait()  # a run's last checkpoint is written before it exits
    with _lock:  # the jobs print how their runs ended
        _jobs_left.wait_for(lambda: _jobs_in_flight == 0, timeout=REPORT_WAIT_S)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, _stop_children_then_exit)
