"""A run as one job of a multirun: where it lives, what it shares, whether it is done, and
how it ended (told to the process that launched the multirun).

    sweeps/<sweep>/                       one ablation (hydra.sweep.dir)
        quantizer=fsq,seed=0/             one run (its overrides): config.yaml, metrics.jsonl,
        quantizer=vq,seed=0/              summary.json when finished, error.txt if it crashed
        multirun.yaml                     Hydra's record of the launch (earlier ones kept as
                                          multirun-<time>.yaml)
    sweeps/.outcomes/<launch>/            how each job of one launch ended (removed when the
                                          launch ends; the sweep's name is not known before)
"""

import dataclasses
import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

from agent.config import Config, changed_settings, flatten, is_run_key, override_key, saved_settings
from agent.errors import ConfigError
from agent.loop import checkpoint
from agent.loop.cores import usable_cores
from agent.loop.files import write_text_atomically
from agent.loop.lock import check_free

SUMMARY = "summary.json"
ERROR = "error.txt"
REFUSED = "refused.txt"  # a job's line when it was refused before its run began


def job_config(cfg: Config, sweep_dir: str, subdir: str, n_jobs: int | None) -> Config:
    """The run's folder inside the sweep, its wandb group and tags, and, when `n_jobs`
    share this machine (counted as joblib does: -1 one per core, -2 all but one, ...), its
    share of torch threads and of the memory that `replay.capacity=auto` takes."""
    threads, replay = cfg.threads, cfg.replay
    if n_jobs is not None:
        cores = usable_cores()
        at_once = max(1, cores + 1 + n_jobs) if n_jobs < 0 else n_jobs
        threads = threads or max(1, cores // min(at_once, cores))
        replay = dataclasses.replace(replay, sharing=max(replay.sharing, at_once))
    wandb = dataclasses.replace(
        cfg.wandb, group=cfg.wandb.group or cfg.sweep,
        tags=[*cfg.wandb.tags, f"quantizer={cfg.quantizer.name}", f"seed={cfg.seed}"])
    return dataclasses.replace(cfg, run_dir=str(Path(sweep_dir) / subdir), wandb=wandb,
                               threads=threads, replay=replay)


def prepare(run_dir: Path) -> bool | None:
    """What a job does with its folder: None to skip a finished run, True to resume an
    interrupted one from its latest checkpoint, False to start (an unfinished run without a
    checkpoint is set aside first). A folder another process is running in is refused."""
    adopt_older_name(run_dir)
    check_free(run_dir)
    if (run_dir / SUMMARY).exists():
        print(f"skipping finished run {run_dir}", file=sys.stderr)
        return None
    if (run_dir / "config.yaml").exists() and checkpoint.latest(run_dir / "checkpoints"):
        print(f"resuming interrupted run {run_dir}", file=sys.stderr)
        return True
    moved = set_aside(run_dir)
    if moved:
        print(f"restarting unfinished run {run_dir} (kept as {moved.name})", file=sys.stderr)
    return False


def settings_in_name(name: str) -> list[str]:
    """A job folder's name (Hydra's override_dirname) as its `key=value` items; a list
    value's own commas stay inside its item."""
    items: list[str] = []
    for piece in name.split(","):
        if "=" in piece or not items:
            items.append(piece)
        else:
            items[-1] += "," + piece
    return items


def adopt_older_name(run_dir: Path) -> None:
    """Folder names once included settings of how a run is carried out (threads,
    log.progress, ...): a job whose folder is empty (Hydra makes it) or missing takes over
    the one folder whose name is its own plus such settings."""
    if (run_dir.exists() and any(run_dir.iterdir())) or not run_dir.parent.is_dir():
        return
    older = [d for d in run_dir.parent.iterdir() if d.is_dir() and ".unfinished-" not in d.name
             and d.name != run_dir.name and ",".join(
                 item for item in settings_in_name(d.name)
                 if not is_run_key(override_key(item))) == run_dir.name]
    if len(older) == 1:
        if run_dir.exists():
            run_dir.rmdir()
        older[0].rename(run_dir)
        print(f"renamed {older[0].name} to {run_dir.name} (folder names now leave out how "
              f"a run is carried out)", file=sys.stderr)


def held_settings(cfg: Config) -> Config:
    """The config an interrupted job resumes with: the one the command line composes now,
    which must train what the saved run trained (how it is carried out may differ), with
    the replay capacity the run resolved to."""
    saved = check_same_settings(cfg, "an interrupted run", "resuming would mix the two")
    return dataclasses.replace(
        cfg, replay=dataclasses.replace(cfg.replay, capacity=saved["replay"]["capacity"]))


def check_finished_settings(cfg: Config) -> None:
    """A finished job is skipped only if it trained what the command line asks for now;
    otherwise its results would stand, in a report, for settings it never had."""
    check_same_settings(cfg, "a finished run", "skipping it would report its results as "
                        "those of the settings given now")


def check_same_settings(cfg: Config, held: str, why: str) -> dict:
    """The saved run's settings, if it trained what `cfg` trains; else a ConfigError."""
    saved = saved_settings((Path(cfg.run_dir) / "config.yaml").read_text())
    differ = changed_settings(flatten(saved), flatten(dataclasses.asdict(cfg)))
    if differ:
        shown = "; ".join(f"{key}={was!r} there, {asked!r} now"
                          for key, (was, asked) in list(differ.items())[:3])
        more = f" (and {len(differ) - 3} more)" if len(differ) > 3 else ""
        longer = (" (to train a finished run longer: python run.py resume=RUN_DIR steps=N)"
                  if "steps" in differ else "")
        raise ConfigError(f"{cfg.run_dir} holds {held} with other settings than the configs "
                          f"give now ({shown}{more}): {why}; restore those settings, or start "
                          f"a new sweep (sweep=NAME){longer}")
    return saved


def record_refusal(job_dir: Path, line: str) -> None:
    """A job refused before its run began (an env that cannot be made, ...) leaves its
    line in refused.txt in its folder, where a report lists it; a folder that holds
    anything already is left as it is."""
    if job_dir.exists() and any(job_dir.iterdir()):
        return
    try:
        job_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomically(job_dir / REFUSED, line + "\n")
    except OSError:
        pass  # a folder that cannot take it: the launch's last line still names the job


def set_aside(run_dir: Path) -> Path | None:
    """Move an unfinished run's folder out of the way (nothing of a run is deleted; a
    refused job's line is, as the job starts again)."""
    if run_dir.is_dir() and [p.name for p in run_dir.iterdir()] == [REFUSED]:
        (run_dir / REFUSED).unlink()
    if not run_dir.exists() or not any(run_dir.iterdir()):
        return None
    target = run_dir.with_name(f"{run_dir.name}.unfinished-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir.rename(target)
    return target


def finished_steps(run_dir: Path) -> int | None:
    """The env steps a finished run reached, or None if it has not finished."""
    path = run_dir / SUMMARY
    return json.loads(path.read_text())["steps"] if path.exists() else None


def check_unfinished(run_dir: Path, steps: int) -> None:
    """Resuming a finished run is training it longer, or nothing at all."""
    done = finished_steps(run_dir)
    if done is not None and steps <= done:
        raise ConfigError(f"resume={run_dir} already finished at {done} env steps; pass "
                          f"steps=M with M > {done} to train longer")


def set_summary_aside(run_dir: Path) -> None:
    """A finished run that trains longer is unfinished again: its summary is kept as
    summary-<steps>.json, and the next summary lists it under `earlier`."""
    steps = finished_steps(run_dir)
    if steps is not None:
        (run_dir / SUMMARY).replace(run_dir / f"summary-{steps:010d}.json")


def set_error_aside(run_dir: Path, step: int) -> None:
    """A crashed run that resumes is no longer crashed: its error is kept as
    error-<step of the checkpoint it resumes from>-<time>.txt, which reports do not read."""
    if (run_dir / ERROR).exists():
        (run_dir / ERROR).replace(
            run_dir / f"error-{step:010d}-{time.strftime('%Y%m%d-%H%M%S')}.txt")


def write_summary(run_dir: Path, summary: dict) -> None:
    earlier = [json.loads(p.read_text()) for p in sorted(run_dir.glob("summary-*.json"))]
    write_text_atomically(run_dir / SUMMARY,
                          json.dumps(summary | ({"earlier": earlier} if earlier else {}),
                                     indent=1))


def record_crash(run_dir: Path, err: BaseException, line: str | None = None) -> str:
    """Write the error and its traceback; returns the one-line description (`line`, or
    the error's own)."""
    line = line or f"{type(err).__name__}: {err}".splitlines()[0]
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomically(run_dir / ERROR,
                              line + "\n\n" + "".join(traceback.format_exception(err)))
    except OSError:
        pass  # the folder that failed (read-only, full, not a folder) keeps no error.txt
    return line


# -- how the jobs of one launch ended ------------------------------------------------------
OUTCOMES_ENV = "DWM_MULTIRUN_OUTCOMES"
DONE = ("finished", "skipped")  # the outcomes that count as a finished run


def start_outcomes(sweep_dir: Path) -> Path:
    """In the launching process: where this launch's jobs report (they inherit the path
    through the environment)."""
    folder = sweep_dir / ".outcomes" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    os.environ[OUTCOMES_ENV] = str(folder)
    return folder


def record_outcome(job: str, outcome: str, detail: str = "") -> None:
    """In a job: how it ended (finished, skipped, stopped, refused or crashed)."""
    folder = launch_folder()
    if folder:
        write_text_atomically(folder / f"{job}.json",
                              json.dumps({"job": job, "outcome": outcome, "detail": detail}))


def launch_folder() -> Path | None:
    """This launch's outcomes folder (made if needed), or None outside a multirun."""
    folder = os.environ.get(OUTCOMES_ENV)
    if not folder:
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    return Path(folder)


STOP_MARK = "stopped-by"  # in a launch's outcomes folder: the signal that stopped it


def mark_stopped(signal_name: str) -> None:
    """Once a launch is stopped (Ctrl-C, SIGTERM), its jobs that have not started do not."""
    folder = launch_folder()
    if folder:
        (folder / STOP_MARK).write_text(signal_name)


def stopped_by() -> str | None:
    """The signal that stopped this launch, if one did."""
    folder = os.environ.get(OUTCOMES_ENV)
    mark = Path(folder) / STOP_MARK if folder else None
    return mark.read_text() if mark is not None and mark.exists() else None


def unfinished_jobs(folder: Path) -> tuple[int, list[dict]]:
    """How many jobs reported, and those that did not finish; the folder is removed."""
    reports = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    shutil.rmtree(folder, ignore_errors=True)
    for parent in folder.parents[:2]:  # .outcomes, then sweeps/ if the launch made it
        if parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
    return len(reports), [r for r in reports if r["outcome"] not in DONE]


def unfinished_line(total: int, unfinished: list[dict]) -> str:
    jobs = "; ".join(f"{r['job']} ({r['outcome']}{': ' + r['detail'] if r['detail'] else ''})"
                     for r in unfinished)
    return f"multirun: {len(unfinished)} of {total} runs did not finish: {jobs}"
