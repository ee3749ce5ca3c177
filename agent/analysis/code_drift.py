"""How far a run's code moved between two of its checkpoints, on the same observations.

    python -m agent.analysis.code_drift EARLIER LATER [--steps 4096] [--seed 0]

The prior learns to predict the code of each observation; an encoder that keeps re-coding
observations it has long seen leaves the prior chasing a moving target, which the dynamics
loss shows only as a sum. Both checkpoints (files, or run folders for their latest) encode
the same `--steps` observations, drawn from the earlier checkpoint's replay so that both
models trained on them; each group's class is the posterior's most likely (the code itself
for a deterministic quantizer, the mode of a categorical one). Prints, per group, the share
of those observations whose class differs between the two, their mean, and the share with
any group changed. A continuous code (quantizer=none) has no classes to compare.
"""

import argparse
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import Tensor

from agent.agent import Agent, evaluating
from agent.config import saved_config
from agent.loop import checkpoint
from agent.loop.evaluate import agent_from_checkpoint

CHUNK = 512  # observations encoded at a time


def replayed_obs(replay: dict, steps: int, seed: int) -> dict[str, Tensor]:
    """`steps` observations drawn uniformly, without repeats where the replay holds
    enough, from the steps a saved replay holds."""
    streams, kept = replay["reward"].shape
    held = min(int(replay["written"]), kept)  # per stream; slots 0 .. held - 1 hold steps
    generator = torch.Generator().manual_seed(seed)
    flat = torch.randperm(streams * held, generator=generator)[:steps]
    return {k: v[flat // held, flat % held] for k, v in replay["obs"].items()}


@torch.no_grad()
def classes(agent: Agent, obs: dict[str, Tensor]) -> Tensor:
    """[N, G]: each group's most likely class for each observation."""
    wm, out = agent.world_model, []
    with evaluating(wm):
        for i in range(0, next(iter(obs.values())).shape[0], CHUNK):
            out.append(wm.encode({k: v[i:i + CHUNK] for k, v in obs.items()}).probs.argmax(-1))
    return torch.cat(out)


def drift(earlier: Agent, later: Agent, obs: dict[str, Tensor]) -> Tensor:
    """[N, G] bool: where the two models give an observation's group different classes."""
    return classes(earlier, obs) != classes(later, obs)


def code_options(state: dict) -> dict:
    """The quantizer settings a checkpoint's run trained with."""
    return OmegaConf.to_container(saved_config(state["config"]).quantizer)


def loaded(parser: argparse.ArgumentParser, target: Path) -> dict:
    try:
        state = checkpoint.load(checkpoint.find(target))
    except checkpoint.CheckpointError as err:
        parser.error(str(err))
    return state


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("earlier", type=Path, help="a checkpoint file or a run folder")
    parser.add_argument("later", type=Path, help="a later checkpoint of the same run")
    parser.add_argument("--steps", type=int, default=4096, help="observations compared")
    parser.add_argument("--seed", type=int, default=0, help="which observations are drawn")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps {args.steps} compares nothing; use 1 or more")
    first, second = loaded(parser, args.earlier), loaded(parser, args.later)
    options = code_options(first)
    if options != code_options(second):
        parser.error(f"the two checkpoints code differently (quantizer {options} against "
                     f"{code_options(second)}); compare two checkpoints of one run")
    if not first["replay"]["written"]:
        parser.error(f"{args.earlier}'s replay holds no steps to encode")
    earlier, _, _ = agent_from_checkpoint(first)
    if earlier.world_model.quantizer.classes == 1:
        parser.error(f"quantizer={options['name']} is a continuous code: it has no "
                     f"classes to compare")
    later, _, _ = agent_from_checkpoint(second)
    changed = drift(earlier, later, replayed_obs(first["replay"], args.steps, args.seed))
    share = changed.float().mean(0)
    print(f"code drift from {first['env_steps']} to {second['env_steps']} env steps, on "
          f"{changed.shape[0]} observations of the earlier replay ({options['name']}, "
          f"{share.numel()} groups)")
    print("| group | " + " | ".join(str(g) for g in range(share.numel())) + " | mean | any |")
    print("|---" * (share.numel() + 3) + "|")
    print("| share changed | " + " | ".join(f"{s:.2f}" for s in share.tolist())
          + f" | {share.mean():.2f} | {changed.any(-1).float().mean():.2f} |")


if __name__ == "__main__":
    main()
