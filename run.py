"""Train the agent: `python run.py [key=value ...]` (Hydra overrides; see README).

`python run.py -m quantizer=fsq,vq seed=0,1` runs the grid as a multirun (parallel jobs);
`python run.py report=SWEEP_DIR` summarises one; `resume=RUN_DIR` continues a run;
`evaluate=RUN_DIR_OR_CHECKPOINT` evaluates one."""

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

import agent.config  # noqa: F401  (registers the schema)
import agent.quantizers  # noqa: F401  (registers every quantizer)
from agent.loop.cli import UserError, check_overrides, explain
from agent.loop.signals import SIGNAL_EXIT

CONFIG_DIR = str(Path(__file__).resolve().parent / "configs")


def training_config(cfg: DictConfig):
    """The run's config and whether it resumes; None for a finished job of a multirun."""
    from agent.loop import sweep
    from agent.loop.resume import resume_config

    hydra_cfg = HydraConfig.get()
    resume = False
    if cfg.resume:
        config, applied = resume_config(Path(cfg.resume), list(hydra_cfg.overrides.task))
        print(f"resuming {cfg.resume} with {applied or 'no overrides'}", file=sys.stderr)
        resume = True
    else:
        config = OmegaConf.to_object(cfg)
    if hydra_cfg.mode == RunMode.MULTIRUN:
        config = sweep.job_config(config, hydra_cfg.sweep.dir, hydra_cfg.sweep.subdir,
                                  hydra_cfg.launcher.get("n_jobs"))
        resume = sweep.prepare(Path(config.run_dir))
        if resume is None:
            sweep.check_finished_settings(config)
            return None
        if resume:
            config = sweep.held_settings(config)
    return config, resume




def train(cfg: DictConfig) -> None:
    """One run, or one job of a multirun. A single run ends the process with the shell's
    code: 0 finished, 130/143 stopped by SIGINT/SIGTERM (after its checkpoint), 1 with one
    error line (a traceback only for bugs, or with HYDRA_FULL_ERROR=1). A job tells the
    launching process how it ended instead, and the other jobs go on."""
    from agent.loop import sweep
    from agent.loop.failures import explain_failure
    from agent.loop.run import NonFiniteStop, Run

    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    job = hydra_cfg.sweep.subdir if multirun else ""
    run_dir = None
    if multirun and (stopped_by := sweep.stopped_by()):
        return not_started(Path(hydra_cfg.sweep.dir) / job, job, stopped_by)
    try:
        setup = training_config(cfg)
        if setup is None:
            return sweep.record_outcome(job, "skipped")
        config, resume = setup
        run_dir = Path(config.run_dir)
        stopped = Run(config, resume=resume).train()
    except UserError as err:
        return refuse(job, explain(err), Path(hydra_cfg.sweep.dir) if multirun else None)
    except NonFiniteStop as err:  # error.txt: a report counts it as crashed, not unfinished
        return end(job, "crashed", sweep.record_crash(run_dir, err, str(err)))
    except Exception as err:
        line = explain_failure(err, run_dir) if run_dir else None
        if not multirun and (line is None or os.environ.get("HYDRA_FULL_ERROR") == "1"):
            raise
        if run_dir is not None:
            line = sweep.record_crash(run_dir, err, line)
        return end(job, "crashed", line or f"{type(err).__name__}: {err}".splitlines()[0])
    if stopped:
        if multirun:
            sweep.mark_stopped(stopped)
        return end(job, "stopped", "", SIGNAL_EXIT.get(stopped, 1))
    sweep.record_outcome(job, "finished")


def not_started(folder: Path, job: str, signal_name: str) -> None:
    """A job of a launch that was stopped before it began: a finished run is skipped as
    usual; any other does not start (the empty folder Hydra made for it goes)."""
    from agent.loop import sweep

    if (folder / sweep.SUMMARY).exists():
        return sweep.record_outcome(job, "skipped")
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    return end(job, "stopped", f"not started after {signal_name}")


def refuse(job: str, line: str, sweep_dir: Path | None) -> None:
    """A run refused with one line; a job of a multirun also leaves the line in its folder,
    for the sweep's report."""
    from agent.loop import sweep

    if sweep_dir is not None:
        sweep.record_refusal(sweep_dir / job, line)
    return end(job, "refused", line)


def end(job: str, outcome: str, line: str, code: int = 1) -> None:
    """How a run that did not finish ends: the process's exit code for a single run, a
    report to the launching process for a job of a multirun."""
    from agent.loop import sweep

    if not job:
        sys.exit(f"error: {line}" if line else code)
    if line:
        print(f"run {job}: {line}", file=sys.stderr)
    sweep.record_outcome(job, outcome, line)


@hydra.main(version_base=None, config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> None:
    if cfg.report:
        from agent.analysis.report import check_report_overrides, write_report

        try:
            check_report_overrides(list(HydraConfig.get().overrides.task))
            write_report(Path(cfg.report), OmegaConf.to_object(cfg))
        except UserError as err:
            sys.exit(f"error: {explain(err)}")
    elif cfg.evaluate:
        from agent.config import override_key
        from agent.loop.cores import set_torch_threads
        from agent.loop.evaluate import check_evaluate_overrides, evaluate_checkpoint

        overrides = list(HydraConfig.get().overrides.task)
        greedy = any(override_key(o) == "eval.greedy" for o in overrides)
        try:
            check_evaluate_overrides(overrides)
            set_torch_threads(cfg.threads)
            evaluate_checkpoint(Path(cfg.evaluate), cfg.eval.episodes, cfg.device, cfg.seed,
                                cfg.eval.greedy if greedy else None)
        except UserError as err:
            sys.exit(f"error: {explain(err)}")
    else:
        train(cfg)


def stop_launch_gently() -> None:
    """Ctrl-C (or SIGTERM) in the launching process marks the launch stopped instead of
    aborting it: the jobs running in worker processes get the same signal from the terminal
    and stop with a checkpoint (an aborting launcher would kill them mid-write), and the
    jobs not yet started do not start. A second one aborts."""
    import signal

    from agent.loop import sweep

    def handle(signum, frame):
        name = signal.Signals(signum).name
        if sweep.stopped_by():
            raise KeyboardInterrupt
        sweep.mark_stopped(name)
        print(f"multirun: {name}: jobs not yet started do not start; running jobs stop "
              f"after a checkpoint when the signal reaches them too (Ctrl-C, or kill -- "
              f"-{os.getpgrp()}); again to abort", file=sys.stderr)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handle)


def launch() -> int:
    """Run main(); for a multirun, the exit code says whether every job finished, and the
    last line lists those that did not."""
    from agent.loop import sweep
    from agent.loop.signals import StartupTerminated

    multirun = any(arg in ("-m", "--multirun") for arg in sys.argv[1:])
    outcomes = sweep.start_outcomes(Path("sweeps")) if multirun else None
    if multirun:
        stop_launch_gently()
    interrupted = None
    try:
        main()
    except KeyboardInterrupt as err:
        interrupted = SIGNAL_EXIT["SIGTERM" if isinstance(err, StartupTerminated) else "SIGINT"]
    if outcomes is None:
        return interrupted or 0
    interrupted = interrupted or SIGNAL_EXIT.get(sweep.stopped_by() or "", 0)
    total, unfinished = sweep.unfinished_jobs(outcomes)
    if unfinished:
        print(sweep.unfinished_line(total, unfinished), file=sys.stderr)
    return interrupted or int(bool(unfinished))


if __name__ == "__main__":
    try:
        check_overrides(CONFIG_DIR, sys.argv[1:])
    except UserError as err:
        sys.exit(f"error: {explain(err)}")
    sys.exit(launch())
