"""Does the continue head see the terminations? Its predicted continuation at a run's
replayed terminal steps against every other step.

    python -m agent.analysis.continue_check RUN_DIR_OR_CHECKPOINT [--windows 64]
        [--seq-len N] [--seed 0]

Imagination discounts each step by the predicted continuation, so a state the head does not
know ends the episode costs the actor nothing there: a CartPole policy then drives the
cart off the track's edge as readily as it keeps it in the middle
(docs/results/cartpole.md). Terminations are rare in the replay of a policy that has
learned something, and a head that predicts about 0.99 everywhere has a small loss; this
puts the two kinds of step side by side.
"""

from dataclasses import dataclass

import torch

from agent.agent import Agent, evaluating
from agent.analysis.reward_check import WARMUP, check_command, sample_windows, seeded_posterior
from agent.loop.replay import Replay


@dataclass
class ContinueCheck:
    terminal: int                  # replayed terminal steps scored
    other: int                     # replayed non-terminal steps scored
    at_terminal: float | None      # mean predicted continuation there (None: none seen)
    at_other: float                # the same at the other steps
    terminal_caught: float | None  # share of terminal steps predicted below 0.5
    false_alarms: float            # share of the other steps predicted below 0.5

    def lines(self) -> list[str]:
        out = [f"continue head over {self.terminal + self.other} replayed steps: mean "
               f"predicted continuation {self.at_other:.3f} at the {self.other} non-terminal "
               f"steps ({100 * self.false_alarms:.1f}% below 0.5)"]
        if self.at_terminal is None:
            return out + ["  no terminal step in the windows drawn (more --windows?)"]
        return out + [f"  {self.at_terminal:.3f} at the {self.terminal} terminal steps "
                      f"({100 * self.terminal_caught:.1f}% below 0.5)"]


@torch.no_grad()
def check_continuation(agent: Agent, replay: Replay, windows: int = 64, seq_len: int = 64,
                       seed: int = 0) -> ContinueCheck:
    """Score the continue head on `windows` replayed windows (sample_windows)."""
    batch = sample_windows(replay, windows, seq_len, seed)
    wm = agent.world_model
    with evaluating(wm), seeded_posterior(seed):
        states = wm.observe(batch.obs, batch.action, batch.is_first)
        predicted = wm.cont_prob(wm.feat(states.h, states.quantized.code))
    predicted = predicted[:, WARMUP:].flatten()  # h starts from zeros before WARMUP
    ends = batch.cont[:, WARMUP:].flatten() == 0
    at_end, elsewhere = predicted[ends], predicted[~ends]
    return ContinueCheck(
        len(at_end), len(elsewhere),
        float(at_end.mean()) if len(at_end) else None, float(elsewhere.mean()),
        float((at_end < 0.5).float().mean()) if len(at_end) else None,
        float((elsewhere < 0.5).float().mean()))


if __name__ == "__main__":
    check_command(__doc__, check_continuation)
