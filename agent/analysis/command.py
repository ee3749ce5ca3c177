"""What the analysis commands share: a run folder or checkpoint named on the command line,
its checkpoint loaded, or the command stopped with one line that says why (none there, or
a truncated or damaged one), and the heading their printed results start with."""

import argparse
from pathlib import Path

from agent.loop import checkpoint


def target_parser(description: str) -> argparse.ArgumentParser:
    """A command line whose first argument is a run folder or a checkpoint file."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", type=Path, help="a run folder or a checkpoint file")
    return parser


def loaded(target: Path) -> dict:
    """The checkpoint a run folder (its latest valid one) or file names; a missing or
    damaged one stops the command with one line, as the commands' other refusals do."""
    try:
        return checkpoint.load(checkpoint.find(target))
    except checkpoint.CheckpointError as err:
        raise SystemExit(f"error: {err}") from None


def heading(target: Path, env_steps: int) -> str:
    return f"{target} (checkpoint at {env_steps} env steps)"
