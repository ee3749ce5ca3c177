"""Known ways a running job fails (the disk fills up, a folder stops being writable, a
checkpoint cannot be read) as one line that names the cause, the folder and the last good
checkpoint, after removing the temporary files the failure left. Anything else is a bug,
and keeps its traceback."""

import errno
import os
from pathlib import Path

from agent.loop import checkpoint
from agent.loop.files import os_error_in, remove_temporaries

# errno -> what to do about it
FIXES = {
    errno.ENOSPC: "free some space",
    errno.EDQUOT: "free some space (disk quota)",
    errno.EFBIG: "raise the file-size limit (ulimit -f)",
    errno.EACCES: "make the folder writable",
    errno.EPERM: "make the folder writable",
    errno.EROFS: "use a writable file system",
    errno.EIO: "check the disk",
    errno.ENOTDIR: "choose a run_dir whose parents are all folders",
}


def explain_failure(err: BaseException, run_dir: Path) -> str | None:
    """One line for a known failure of a running job, or None for a bug."""
    if isinstance(err, checkpoint.CheckpointError):
        cause, fix = str(err), "resume from an earlier checkpoint, or start a new run_dir"
    else:
        os_error = os_error_in(err)
        if os_error is None or os_error.errno not in FIXES:
            return None
        where = f" ({os_error.filename})" if os_error.filename else ""
        cause = f"{os.strerror(os_error.errno)}{where}"
        fix = FIXES[os_error.errno]
    remove_temporaries(run_dir)
    latest = checkpoint.latest(run_dir / "checkpoints") if run_dir.is_dir() else None
    saved = (f"the last good checkpoint is {latest}; {fix}, then continue with "
             f"`python run.py resume={run_dir}`" if latest else
             f"no checkpoint was written; {fix} and start again")
    return f"run in {run_dir} stopped: {cause}; {saved}"
