"""Train the agent: `python run.py [key=value ...]` (Hydra overrides; see README)."""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

import agent.config  # noqa: F401  (registers the schema)
import agent.quantizers  # noqa: F401  (registers every quantizer)
from agent.cli import UserError, check_overrides, explain

CONFIG_DIR = str(Path(__file__).resolve().parent / "configs")


@hydra.main(version_base=None, config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> None:
    from agent.train import Run

    try:
        run = Run(OmegaConf.to_object(cfg))
    except UserError as err:
        sys.exit(f"error: {explain(err)}")
    run.train()


if __name__ == "__main__":
    check_overrides(CONFIG_DIR, sys.argv[1:])
    main()
