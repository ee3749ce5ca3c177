"""Does the reward head see the rewards? Its predictions at a run's replayed steps against
the rewards that really came there.

    python -m agent.analysis.reward_check RUN_DIR_OR_CHECKPOINT [--windows 64]
        [--seq-len N] [--seed 0]

A head that learned only the average reward predicts about the same at every step: its
squared error is then the rewards' variance (the error of predicting their mean
everywhere), the share of that variance it explains is about 0, and its predictions do not
move with the rewards. Sparse rewards (a +1 every hundred steps) fail this way while the
reward loss looks small, so the policy gets no signal in imagination
(docs/results/minatar.md). With few distinct reward values the check also lists the mean
prediction at each.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from agent.agent import Agent
from agent.analysis.command import heading, loaded, target_parser
from agent.analysis.random_data import observed_rewards
from agent.data import Batch
from agent.loop import checkpoint
from agent.loop.evaluate import agent_from_checkpoint
from agent.loop.replay import Replay

WARMUP = 8
"""Steps at the start of each window left out: h starts from zeros there."""

MAX_GROUPS = 10
"""At most this many distinct reward values are listed one by one."""


@dataclass
class RewardCheck:
    steps: int                    # replayed steps scored (not an episode's first)
    head_mse: float               # mean (predicted - real reward)^2
    average_mse: float            # the same for predicting the mean reward everywhere
    correlation: float | None     # Pearson, predicted vs real; None if either is constant
    by_value: dict[float, tuple[int, float]]  # reward -> (steps, mean prediction)

    @property
    def explained(self) -> float | None:
        """1 - head_mse / average_mse: 1 for a perfect head, 0 for one that knows only the
        average (None when every reward is the same)."""
        return None if self.average_mse == 0 else 1 - self.head_mse / self.average_mse

    def lines(self) -> list[str]:
        def show(x):
            return "-" if x is None else f"{x:.3f}"

        out = [f"reward head over {self.steps} replayed steps: squared error "
               f"{self.head_mse:.5f}, predicting the mean reward everywhere {self.average_mse:.5f} "
               f"(variance explained {show(self.explained)}); correlation with the real "
               f"reward {show(self.correlation)}"]
        out += [f"  reward {value:+g}: {n} steps, mean prediction {pred:+.4f}"
                for value, (n, pred) in self.by_value.items()]
        return out


def sample_windows(replay: Replay, windows: int, seq_len: int, seed: int) -> Batch:
    """A check's replayed windows, drawn with their own generator (the replay's sampler is
    left as it was); each must reach past the WARMUP steps a check leaves out."""
    if seq_len <= WARMUP:
        raise SystemExit(f"error: windows of {seq_len} steps leave no state to score after "
                         f"the first {WARMUP}; use windows longer than {WARMUP} steps "
                         f"(--seq-len)")
    if windows < 1:
        raise SystemExit(f"error: {windows} windows score nothing; use --windows 1 or more")
    if not replay.can_sample(seq_len):
        raise SystemExit(f"error: the replay holds fewer steps per env than windows of "
                         f"{seq_len}; use shorter windows (--seq-len)")
    return replay.sample(windows, seq_len, np.random.default_rng(seed))


@contextmanager
def seeded_posterior(seed: int) -> Iterator[None]:
    """A stochastic posterior (categorical) samples its codes: seeded within, so a check
    repeats exactly, and the caller's torch random state is left as it was."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        yield


@torch.no_grad()
def check_rewards(agent: Agent, replay: Replay, windows: int = 64, seq_len: int = 64,
                  seed: int = 0) -> RewardCheck:
    """Score the reward head on `windows` replayed windows (sample_windows)."""
    batch = sample_windows(replay, windows, seq_len, seed)
    with seeded_posterior(seed):
        predicted = observed_rewards(agent, batch.obs, batch.action, batch.is_first)
    # An episode's first step carries no reward (nothing led to it): left out too.
    scored = batch.is_first[:, WARMUP:].flatten() == 0
    predicted = predicted[:, WARMUP:].flatten()[scored]
    real = batch.reward[:, WARMUP:].flatten()[scored]
    values = torch.unique(real)
    by_value = {} if len(values) > MAX_GROUPS else {
        float(v): (int((real == v).sum()), float(predicted[real == v].mean())) for v in values}
    constant = predicted.std() == 0 or real.std() == 0
    correlation = None if constant else float(torch.corrcoef(torch.stack([predicted, real]))[0, 1])
    return RewardCheck(len(real), float((predicted - real).pow(2).mean()),
                       float((real - real.mean()).pow(2).mean()), correlation, by_value)


def run_from_checkpoint(state: dict) -> tuple[Agent, Replay, int]:
    """The agent and the replay of a loaded checkpoint, and its env steps."""
    agent, codec, spec = agent_from_checkpoint(state)
    saved = state["replay"]
    streams, kept = saved["reward"].shape  # only what the run kept, not its capacity
    replay = Replay(streams * kept, streams, spec, codec.size)
    replay.load_state_dict(saved)
    return agent, replay, state["env_steps"]


def load_run(target: Path) -> tuple[Agent, Replay, int]:
    """run_from_checkpoint of a checkpoint file or of a run folder's latest."""
    return run_from_checkpoint(checkpoint.load(checkpoint.find(target)))


def check_command(description: str, check) -> None:
    """The command line of a check over a run's replayed windows: `check(agent, replay,
    windows, seq_len, seed)` on a run folder's or checkpoint's agent and replay, printed."""
    parser = target_parser(description)
    parser.add_argument("--windows", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=None,
                        help="steps per window (default: the run's train.seq_len)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    agent, replay, env_steps = run_from_checkpoint(loaded(args.target))
    seq_len = agent.cfg.train.seq_len if args.seq_len is None else args.seq_len
    result = check(agent, replay, args.windows, seq_len, args.seed)
    print(heading(args.target, env_steps))
    print("\n".join(result.lines()))


if __name__ == "__main__":
    check_command(__doc__, check_rewards)
