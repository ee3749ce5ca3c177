"""What a run's agent did, as its observations show it: chosen observation entries of the
replay, averaged over windows of env steps, beside the reward per step.

    python -m agent.analysis.replay_obs RUN_DIR_OR_CHECKPOINT --keys KEY[:I] ...
        [--every 5000] [--frames]

A return says how much, not what: a DMC walker that crawls and one that stands still can
score alike. `--keys height velocity:1` shows the torso's height and the forward speed as
the run went on. `KEY` names an observation entry (`obs` for a plain Box observation);
`KEY:I` takes element I of a vector entry, which an entry of more than one element needs.
The steps are the replay's in the checkpoint (a run folder's latest): the training
policy's, and the random prefill's, never the greedy evaluations'; a replay that evicted
steps holds only the latest ones, so its first window may be partly kept. Windows as in
agent.analysis.windows: the window (0, every] is labelled `every`; --frames counts env
frames (action repeat). The `reward` column is the mean reward per agent step (with action
repeat, the sum over its frames), counting the 0 stored with each episode's first step.
"""

import argparse

import torch
from torch import Tensor

from agent.analysis.command import loaded, target_parser
from agent.analysis.windows import table
from agent.config import saved_config


def parse_key(word: str, obs: dict[str, Tensor]) -> tuple[str, int]:
    """`KEY` or `KEY:I` -> (entry, element), checked against the replay's entries."""
    name, _, index = word.partition(":")
    if name not in obs:
        raise SystemExit(f"error: the observations have no entry {name!r}; they have: "
                         f"{', '.join(f'{k} ({describe(v)})' for k, v in obs.items())}")
    entry = obs[name]
    if entry.dim() != 3:
        raise SystemExit(f"error: {name!r} is an image ({describe(entry)}); name vector "
                         f"entries")
    size = entry.shape[-1]
    if not index:
        if size != 1:
            raise SystemExit(f"error: {name!r} has {size} elements; name one, e.g. {name}:0")
        return name, 0
    if not index.isdigit() or int(index) >= size:
        raise SystemExit(f"error: {word!r}: {name!r} has elements 0 to {size - 1}")
    return name, int(index)


def describe(entry: Tensor) -> str:
    """An entry of the replay ([streams, steps, ...]) as its elements or its image shape."""
    shape = tuple(entry.shape[2:])
    return f"image {'x'.join(map(str, shape))}" if len(shape) > 1 else str(shape[0])


def step_of_slot(written: int, kept: int) -> Tensor:
    """The replay is a ring: slot i holds the latest step s < written with s % kept == i
    (steps per stream, from 0)."""
    slots = torch.arange(kept)
    return slots + (written - 1 - slots) // kept * kept


def window_labels(state: dict, steps: Tensor, every: int, frames: bool) -> Tensor:
    """The window (end - every, end] that each of `steps` (per stream, from 0) ended in,
    as its end, in env steps (env frames with `frames`)."""
    streams = state["replay"]["reward"].shape[0]
    repeat = saved_config(state["config"]).env.action_repeat if frames else 1
    # Every stream moves together: step s of the streams ends at env step (s + 1) * streams.
    x = (steps + 1) * streams * repeat
    return torch.div(x + every - 1, every, rounding_mode="floor") * every


def window_rows(state: dict, keys: list[str], every: int, frames: bool
                ) -> tuple[list[str], list[tuple[int, dict[str, float | None]]]]:
    """The table's columns and rows for a checkpoint's state."""
    replay = state["replay"]
    obs = replay["obs"]
    kept = replay["reward"].shape[1]
    columns = [parse_key(word, obs) for word in keys]
    window = window_labels(state, step_of_slot(replay["written"], kept), every, frames)
    values = {word: obs[name][..., i].float() for word, (name, i) in zip(keys, columns,
                                                                         strict=True)}
    values["reward"] = replay["reward"].float()
    rows = []
    for end in sorted(set(window.tolist())):
        inside = window == end
        rows.append((end, {word: v[:, inside].mean().item() for word, v in values.items()}))
    return [*keys, "reward"], rows


def window_parser(description: str) -> argparse.ArgumentParser:
    """The command line of a per-window reading of a checkpoint's replay: the target and
    the windows (checked by `checked_state`)."""
    parser = target_parser(description)
    parser.add_argument("--every", type=int, default=5_000,
                        help="window size, in env steps (env frames with --frames)")
    parser.add_argument("--frames", action="store_true",
                        help="count env frames (with action repeat) instead of agent steps")
    return parser


def checked_state(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict:
    """The target's checkpoint; a bad window size, a missing checkpoint or an empty replay
    stop the command with a one-line error."""
    if args.every <= 0:
        parser.error(f"--every must be a positive number of steps, not {args.every}")
    state = loaded(args.target)
    if not state["replay"]["written"]:
        parser.error("the checkpoint's replay holds no steps")
    return state


def main(argv: list[str] | None = None) -> None:
    parser = window_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--keys", nargs="+", required=True, metavar="KEY[:I]")
    args = parser.parse_args(argv)
    state = checked_state(parser, args)
    columns, rows = window_rows(state, args.keys, args.every, args.frames)
    print("\n".join(table(rows, columns, "env frames" if args.frames else "env steps")))


if __name__ == "__main__":
    main()
