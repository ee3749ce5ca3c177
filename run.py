"""Train the agent: `python run.py [key=value ...]` (Hydra overrides; see README).

`python run.py -m quantizer=fsq,vq seed=0,1` runs the grid as a multirun (parallel jobs);
`python run.py report=SWEEP_DIR` summarises one; `resume=RUN_DIR` continues a run;
`evaluate=RUN_DIR_OR_CHECKPOINT` evaluates one."""

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

import agent.config  # noqa: F401  (registers the schema)
import agent.quantizers  # noqa: F401  (registers every quantizer)
from agent.loop.cli import UserError, check_overrides, explain

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
            return None
    return config, resume


def train(cfg: DictConfig) -> None:
    from agent.loop import sweep
    from agent.loop.run import NonFiniteStop, Run

    try:
        setup = training_config(cfg)
        if setup is None:
            return
        config, resume = setup
        run = Run(config, resume=resume)
    except UserError as err:
        sys.exit(f"error: {explain(err)}")
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        run.train()
    except Exception as err:
        if not multirun:
            if isinstance(err, NonFiniteStop):
                sys.exit(f"error: {err}")
            raise
        # One crashed job must not stop the others; the report lists it.
        print(f"run {config.run_dir} crashed: {sweep.record_crash(Path(config.run_dir), err)}",
              file=sys.stderr)


@hydra.main(version_base=None, config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> None:
    if cfg.report:
        from agent.analysis.report import write_report

        try:
            write_report(Path(cfg.report), OmegaConf.to_object(cfg))
        except UserError as err:
            sys.exit(f"error: {explain(err)}")
    elif cfg.evaluate:
        from agent.loop.evaluate import evaluate_checkpoint

        try:
            evaluate_checkpoint(Path(cfg.evaluate), cfg.eval.episodes, cfg.device, cfg.seed)
        except UserError as err:
            sys.exit(f"error: {explain(err)}")
    else:
        train(cfg)


if __name__ == "__main__":
    try:
        check_overrides(CONFIG_DIR, sys.argv[1:])
    except UserError as err:
        sys.exit(f"error: {explain(err)}")
    main()
