"""Train the agent: `python run.py [key=value ...]` (Hydra overrides; see README).

`python run.py -m quantizer=fsq,vq seed=0,1` runs the grid as a multirun (parallel jobs);
`python run.py report=SWEEP_DIR` summarises one."""

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

import agent.config  # noqa: F401  (registers the schema)
import agent.quantizers  # noqa: F401  (registers every quantizer)
from agent.cli import UserError, check_overrides, explain

CONFIG_DIR = str(Path(__file__).resolve().parent / "configs")


@hydra.main(version_base=None, config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> None:
    from agent import sweep
    from agent.train import Run

    if cfg.report:
        from agent.report import write_report

        write_report(Path(cfg.report), OmegaConf.to_object(cfg))
        return
    if cfg.evaluate:
        from agent.checkpoint import CheckpointError
        from agent.evaluate import evaluate_checkpoint

        try:
            evaluate_checkpoint(Path(cfg.evaluate), cfg.eval.episodes, cfg.device, cfg.seed)
        except (CheckpointError, *UserError) as err:
            sys.exit(f"error: {explain(err)}")
        return
    config = OmegaConf.to_object(cfg)
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    if multirun:
        config = sweep.job_config(config, hydra_cfg.sweep.dir, hydra_cfg.sweep.subdir,
                                  hydra_cfg.launcher.get("n_jobs"))
        run_dir = Path(config.run_dir)
        if sweep.is_finished(run_dir):
            print(f"skipping finished run {run_dir}", file=sys.stderr)
            return
        moved = sweep.set_aside(run_dir)
        if moved:
            print(f"restarting unfinished run {run_dir} (kept as {moved.name})", file=sys.stderr)
    try:
        run = Run(config)
    except UserError as err:
        sys.exit(f"error: {explain(err)}")
    try:
        run.train()
    except Exception as err:
        if not multirun:
            raise
        # One crashed job must not stop the others; the report lists it.
        print(f"run {config.run_dir} crashed: {sweep.record_crash(Path(config.run_dir), err)}",
              file=sys.stderr)


if __name__ == "__main__":
    check_overrides(CONFIG_DIR, sys.argv[1:])
    main()
