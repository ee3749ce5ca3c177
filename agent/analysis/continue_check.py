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

The same, imagined: from the replayed state 1, 5 and 15 steps before each step, the prior
alone rolled forward with the actions taken, as imagination rolls it. A head that sees a
terminal observation but a prior that does not foresee reaching it also leaves the actor
without a signal: the continuation imagined ahead at the terminal steps says which.
"""

from dataclasses import dataclass, field

import torch
from torch import Tensor

from agent.agent import Agent, evaluating
from agent.analysis.reward_check import WARMUP, check_command, sample_windows, seeded_posterior
from agent.data import Batch
from agent.loop.openloop_errors import HORIZONS
from agent.loop.replay import Replay
from agent.model.world_model import ObservedStates, WorldModel


@dataclass
class ContinueCheck:
    terminal: int                  # replayed terminal steps scored
    other: int                     # replayed non-terminal steps scored
    at_terminal: float | None      # mean predicted continuation there (None: none seen)
    at_other: float                # the same at the other steps
    terminal_caught: float | None  # share of terminal steps predicted below 0.5
    false_alarms: float            # share of the other steps predicted below 0.5
    imagined: dict[int, "ContinueCheck"] = field(default_factory=dict)
    """The same scores for the continuation imagined that many steps ahead."""

    def lines(self) -> list[str]:
        out = [f"continue head over {self.terminal + self.other} replayed steps: mean "
               f"predicted continuation {self.at_other:.3f} at the {self.other} non-terminal "
               f"steps ({100 * self.false_alarms:.1f}% below 0.5)"]
        if self.at_terminal is None:
            return out + ["  no terminal step in the windows drawn (more --windows?)"]
        out.append(f"  {self.at_terminal:.3f} at the {self.terminal} terminal steps "
                   f"({100 * self.terminal_caught:.1f}% below 0.5)")
        for horizon, ahead in self.imagined.items():
            out.append(f"imagined {horizon} step{'s' * (horizon > 1)} ahead (the prior "
                       f"alone, the actions taken): " + (
                           "no terminal step that far into a window" if ahead.at_terminal
                           is None else f"{ahead.at_terminal:.3f} at {ahead.terminal} "
                           f"terminal steps ({100 * ahead.terminal_caught:.1f}% below 0.5)")
                       + f", {ahead.at_other:.3f} elsewhere "
                         f"({100 * ahead.false_alarms:.1f}% below 0.5)")
        return out


def score(predicted: Tensor, ends: Tensor) -> ContinueCheck:
    """Predicted continuations at the terminal steps (`ends`) against the others."""
    at_end, elsewhere = predicted[ends], predicted[~ends]
    return ContinueCheck(
        len(at_end), len(elsewhere),
        float(at_end.mean()) if len(at_end) else None, float(elsewhere.mean()),
        float((at_end < 0.5).float().mean()) if len(at_end) else None,
        float((elsewhere < 0.5).float().mean()))


def imagine_ahead(wm: WorldModel, states: ObservedStates, batch: Batch, horizon: int
                  ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """From every replayed state s at or after WARMUP, `horizon` prior steps fed the actions
    taken at s … s + horizon - 1 (h' = f(h, c, a), as in observe): the imagined (h, code) of
    step s + horizon, flattened over windows and starts, with that step's index and whether
    a new episode began after s (nothing could foresee such a step)."""
    steps = batch.cont.shape[1]
    starts = torch.arange(WARMUP, steps - horizon)
    actions = (batch.action[:, starts + k].flatten(0, 1) for k in range(horizon))
    *_, (h, code) = wm.dream(states.h[:, starts].flatten(0, 1),  # the last step is scored
                             states.quantized.code[:, starts].flatten(0, 1), actions)
    reached = starts + horizon
    new_episode = torch.stack([batch.is_first[:, starts + k] for k in range(1, horizon + 1)]
                              ).any(0).flatten()
    return h, code, reached, new_episode


def score_imagined(wm: WorldModel, states: ObservedStates, batch: Batch,
                   horizon: int) -> ContinueCheck | None:
    """The continue head on the steps imagined `horizon` ahead (imagine_ahead), where they
    stay in the episode of their start; None if none does."""
    h, code, reached, new_episode = imagine_ahead(wm, states, batch, horizon)
    if new_episode.all():
        return None
    ends = (batch.cont[:, reached] == 0).flatten()
    return score(wm.cont_prob(wm.feat(h, code))[~new_episode], ends[~new_episode])


@torch.no_grad()
def check_continuation(agent: Agent, replay: Replay, windows: int = 64, seq_len: int = 64,
                       seed: int = 0) -> ContinueCheck:
    """Score the continue head on `windows` replayed windows (sample_windows), observed and
    imagined HORIZONS steps ahead (those a window leaves room for after WARMUP, and that
    some start reaches within its episode)."""
    batch = sample_windows(replay, windows, seq_len, seed)
    wm = agent.world_model
    with evaluating(wm), seeded_posterior(seed):
        states = wm.observe(batch.obs, batch.action, batch.is_first)
        predicted = wm.cont_prob(wm.feat(states.h, states.quantized.code))
        check = score(predicted[:, WARMUP:].flatten(),  # h starts from zeros before WARMUP
                      batch.cont[:, WARMUP:].flatten() == 0)
        ahead = {h: score_imagined(wm, states, batch, h) for h in HORIZONS
                 if WARMUP + h < seq_len}
        check.imagined = {h: result for h, result in ahead.items() if result is not None}
    return check


if __name__ == "__main__":
    check_command(__doc__, check_continuation)
