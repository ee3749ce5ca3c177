"""Writing a run's files so that a failure midway (a full disk, a kill) leaves the previous
version intact and no temporary file behind."""

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TMP_SUFFIX = ".tmp"


def write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write through `write(file)` to a temporary file in the same folder, fsync it, and
    rename it over `path`. On any error the temporary file is removed and the error raised
    with the OS error found in its chain (torch.save, for one, wraps ENOSPC in a
    RuntimeError) as a plain OSError naming `path`."""
    tmp = path.with_name(f".{path.name}{TMP_SUFFIX}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        cause = os_error_in(err)
        if cause is not None and cause is not err:
            raise OSError(cause.errno, cause.strerror, str(path)) from err
        raise
    fsync_folder(path.parent)


def write_text_atomically(path: Path, text: str) -> None:
    write_atomically(path, lambda f: f.write(text.encode()))


def fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def os_error_in(err: BaseException) -> OSError | None:
    """The first OSError with an errno in `err`'s chain of causes and contexts."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError) and err.errno is not None:
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def remove_temporaries(run_dir: Path) -> list[Path]:
    """Delete the temporary files a failed write may have left in run_dir (and its
    checkpoints/); returns what was removed."""
    removed = []
    for folder in (run_dir, run_dir / "checkpoints"):
        for tmp in folder.glob(f".*{TMP_SUFFIX}") if folder.is_dir() else []:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed
