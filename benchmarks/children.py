"""Training runs as child processes that stop when their benchmark is stopped.

A benchmark trains each run in a `run.py` subprocess. Ctrl-C reaches them anyway (the
terminal signals the whole process group), but `kill PID` of a benchmark running in the
background would leave its runs training on as orphans, holding the cores and writing
into folders the next benchmark may be given. Importing this module (from the main
thread, as every benchmark script does through `common`) makes SIGTERM to the benchmark
reach its runs first: each saves a checkpoint and exits, so the same command resumes them;
then the benchmark ends as SIGTERM would have ended it.
"""

import os
import signal
import subprocess
import threading

_running: set[subprocess.Popen] = set()
_lock = threading.Lock()
_stopping = threading.Event()


def run_child(cmd: list[str]) -> None:
    """`subprocess.run(cmd, check=True)`, with the child stopped if the benchmark is."""
    with _lock:
        if _stopping.is_set():  # a pool thread's next job, while the benchmark stops
            raise subprocess.CalledProcessError(-signal.SIGTERM, cmd)
        child = subprocess.Popen(cmd)
        _running.add(child)
    try:
        code = child.wait()
    finally:
        with _lock:
            _running.discard(child)
    if code:
        raise subprocess.CalledProcessError(code, cmd)


def _stop_children_then_exit(signum, frame) -> None:
    with _lock:
        _stopping.set()
        children = list(_running)
    for child in children:
        child.send_signal(signal.SIGTERM)
    for child in children:
        child.wait()  # a run's last checkpoint is written before it exits
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, _stop_children_then_exit)
