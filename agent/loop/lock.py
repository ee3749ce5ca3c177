"""Exclusive use of a run folder: an OS lock (flock) on run_dir/.lock, held for the run's
life and released by the OS however the process ends (kill -9 included).

The lock file is never deleted: deleting it while another process waits on it would let two
processes each hold a lock, on two different files of the same name.
"""

import fcntl
import os
import time
from pathlib import Path

from agent.errors import ConfigError

LOCK_FILE = ".lock"
# `holder` tests the lock by taking it for an instant: a run that starts at that instant
# tries again a few times before it calls the folder busy.
ACQUIRE_TRIES, ACQUIRE_WAIT_S = 5, 0.05


class RunDirBusy(ConfigError):
    """Another live process is running in the folder."""


def busy_error(run_dir: Path, pid: int | None) -> RunDirBusy:
    return RunDirBusy(f"run_dir={str(run_dir)!r} is in use by another run (pid {pid}); wait "
                      f"for it to end, or pass another run_dir")


def check_free(run_dir: Path) -> None:
    """Raise RunDirBusy, naming the holder, if a live process is running in the folder."""
    pid = holder(run_dir)
    if pid is not None:
        raise busy_error(run_dir, pid)


class RunDirLock:
    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.fd: int | None = None

    def acquire(self) -> None:
        """Take the folder (creating it if needed), or raise RunDirBusy naming the holder."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        for attempt in range(ACQUIRE_TRIES):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == ACQUIRE_TRIES - 1:
                    pid = _read_pid(fd)
                    os.close(fd)
                    raise busy_error(self.run_dir, pid) from None
                time.sleep(ACQUIRE_WAIT_S)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor releases the lock
            self.fd = None


def holder(run_dir: Path) -> int | None:
    """The pid of the live process holding the folder, or None if none holds it."""
    path = run_dir / LOCK_FILE
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            # Shared: it conflicts with a holder's exclusive lock all the same, and on NFS
            # (where flock is emulated by fcntl locks) an exclusive one needs a file open
            # for writing, which would fail here with EBADF.
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None
