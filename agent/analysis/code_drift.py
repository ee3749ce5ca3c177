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
from torch import Tensor

from agent.agent import Agent, evaluating
from agent.analysis.command import loaded
from agent.config import changed_settings, flatten, saved_settings
from agent.loop.evaluate import agent_from_checkpoint
from agent.loop.resume import RESUMABLE_KEYS
from agent.quantizers.base import ContinuousQuantizer
from agent.quantizers.registry import quantizer_class

CHUNK = 512  # observations encoded at a time


def replayed_obs(replay: dict, steps: int, seed: int) -> dict[str, Tensor]:
    """`steps` observations drawn uniformly without repeats from those a saved replay
    holds (all of them where it holds fewer). A saved replay keeps only written slots."""
    streams, held = replay["reward"].shape
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


def differences(earlier: dict, later: dict) -> list[str]:
    """The settings in which two checkpoints' runs differ, beyond what a run may change
    when it resumes (how long it trains, how it is evaluated and carried out)."""
    differ = changed_settings(*(flatten(saved_settings(state["config"]))
                                for state in (earlier, later)))
    return [key for key in differ if not key.startswith(RESUMABLE_KEYS)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("earlier", type=Path, help="a checkpoint file or a run folder")
    parser.add_argument("later", type=Path, help="a later checkpoint of the same run")
    parser.add_argument("--steps", type=int, default=4096, help="observations compared")
    parser.add_argument("--seed", type=int, default=0, help="which observations are drawn")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps {args.steps} compares nothing; use 1 or more")
    earlier_state, later_state = loaded(args.earlier), loaded(args.later)
    if earlier_state["env_steps"] > later_state["env_steps"]:
        parser.error(f"{args.earlier} is at {earlier_state['env_steps']} env steps, after "
                     f"{args.later} ({later_state['env_steps']}): swap the two")
    if differ := differences(earlier_state, later_state):
        parser.error(f"the two checkpoints come from different runs ({', '.join(differ)} "
                     f"differ); compare two checkpoints of one run")
    name = saved_settings(earlier_state["config"])["quantizer"]["name"]
    if issubclass(quantizer_class(name), ContinuousQuantizer):
        parser.error(f"quantizer={name} is a continuous code: it has no classes to compare")
    if not earlier_state["replay"]["written"]:
        parser.error(f"{args.earlier}'s replay holds no steps to encode")
    obs = replayed_obs(earlier_state["replay"], args.steps, args.seed)
    later_state.pop("replay")  # only the earlier's observations are encoded
    changed = drift(agent_from_checkpoint(earlier_state)[0],
                    agent_from_checkpoint(later_state)[0], obs)
    share = changed.float().mean(0)
    print(f"code drift from {earlier_state['env_steps']} to {later_state['env_steps']} env "
          f"steps, on {changed.shape[0]} observations of the earlier replay ({name}, "
          f"{share.numel()} groups)")
    print("| group | " + " | ".join(str(g) for g in range(share.numel())) + " | mean | any |")
    print("|---" * (share.numel() + 3) + "|")
    print("| share changed | " + " | ".join(f"{s:.2f}" for s in share.tolist())
          + f" | {share.mean():.2f} | {changed.any(-1).float().mean():.2f} |")


if __name__ == "__main__":
    main()
