"""Does the world model foresee MinAtar Freeway's collisions? Where it draws the chicken, at
the replayed steps where a car sent it back to the bottom, against the steps where none did.

    python -m agent.analysis.freeway_check RUN_DIR_OR_CHECKPOINT [--windows 64]
        [--seq-len N] [--seed 0]

A collision in Freeway costs no reward: the chicken goes back to the bottom row and the next
crossing comes later. A policy that waits for a gap (DQN's 48 at 1M steps, where pressing
"up" at every step scores about 16) can only learn to from imagined rollouts in which the
prior moves the chicken back when a car reaches it. The chicken's row is read from the
board's chicken channel, decoded from the posterior (what the model sees) and from the prior
alone 1, 5 and 15 steps ahead with the actions taken (what imagination rolls).

Last, per row the chicken is really on, the critic's value and the actor's probability of
"up" in the states the model infers: a value that rises toward the top row means the model
has learned what a crossing pays; a flat one means the actor has nothing to turn it "up".
"""

from dataclasses import dataclass, field

import torch
from torch import Tensor

from agent.agent import Agent, evaluating
from agent.analysis.continue_check import imagine_ahead
from agent.analysis.reward_check import WARMUP, check_command, sample_windows, seeded_posterior
from agent.loop.openloop_errors import HORIZONS
from agent.loop.replay import Replay
from envs.observations import pixel_cells

BOARD = 10             # MinAtar's board is 10 x 10, whatever size the image is stored at
BOTTOM = BOARD - 1     # where the chicken starts, and goes back to when hit or across
CHICKEN = 0            # the board's channel that shows the chicken
UP = 1                 # Freeway's actions: no-op, up, down


def chicken_rows(board: Tensor, fit: str = "resize") -> Tensor:
    """[..., C, H, W] Freeway boards (uint8 pixels, stored as env.image_fit `fit` stores
    them) -> the chicken's row on MinAtar's 10-row board [...]: the image row with the most
    chicken on the board (not on the empty canvas around a padded one), mapped back to the
    board row it shows (envs.observations.pixel_cells); -1 where less than half a pixel of
    chicken is drawn there."""
    shows = pixel_cells(board.shape[-2], BOARD, fit).to(board.device)  # board row of each
    mass = board[..., CHICKEN, :, :].float().sum(-1) / 255  # [..., H]
    mass = mass * (shows >= 0)  # chicken drawn on a padded board's empty canvas: not a row
    return torch.where(mass.amax(-1) >= 0.5, shows[mass.argmax(-1)], -1)


def collisions(rows: Tensor, reward: Tensor, is_first: Tensor) -> Tensor:
    """[B, T] -> whether a car sent the chicken back at each step: at the bottom row after
    being two or more rows up, with no reward (a crossing also ends at the bottom, paid).
    A hit from the row above the bottom looks like one row down and is not counted."""
    back = (rows[:, 1:] == BOTTOM) & (rows[:, :-1] >= 0) & (rows[:, :-1] <= BOTTOM - 2)
    hit = back & (reward[:, 1:] == 0) & (is_first[:, 1:] == 0)
    return torch.cat([torch.zeros_like(hit[:, :1]), hit], 1)


@dataclass
class Drawn:
    collisions: int             # collision steps scored
    others: int                 # the other steps scored (no collision, no crossing)
    sent_back: float | None     # share of the collisions where the chicken is drawn at the bottom
    false_back: float | None    # the same where it stayed two or more rows up: no car hit it
    on_row: float | None        # share of the other steps where it is drawn on its row
    below: float | None         # share of the other steps where it is drawn below its row

    def line(self, where: str) -> str:
        return (f"{where}: drawn back at the bottom at {pct(self.sent_back)} of "
                f"{self.collisions} collisions, and at {pct(self.false_back)} of the steps "
                f"where it stayed up; at the {self.others} other steps on its row at "
                f"{pct(self.on_row)}, below it at {pct(self.below)}")


def pct(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.1f}%"


def share(mask: Tensor) -> float | None:
    """The share of True in `mask`; None where it is empty."""
    return float(mask.float().mean()) if mask.numel() else None


@dataclass
class RowView:
    row: int        # the chicken's real row (0: the top, BOTTOM: where it starts)
    states: int     # replayed states with the chicken on it
    value: float    # the critic's mean value there
    p_up: float     # the actor's mean probability of "up" there

    def line(self) -> str:
        return (f"  row {self.row}: {self.states} states, value {self.value:+.3f}, "
                f"P(up) {self.p_up:.3f}")


def by_row(rows: Tensor, value: Tensor, p_up: Tensor) -> list[RowView]:
    """[N] real rows (-1: no chicken drawn), values and probabilities of "up" -> the mean
    value and P(up) on each row that holds a state, top row first."""
    return [RowView(r, int(on.sum()), float(value[on].mean()), float(p_up[on].mean()))
            for r in range(BOARD) if (on := rows == r).any()]


@dataclass
class FreewayCheck:
    steps: int
    crossings: int
    observed: Drawn
    imagined: dict[int, Drawn] = field(default_factory=dict)
    rows: list[RowView] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"the chicken over {self.steps} replayed steps "
                f"({self.observed.collisions} collisions, {self.crossings} crossings)",
                self.observed.line("decoded from the posterior")] + [
                    drawn.line(f"imagined {h} step{'s' * (h > 1)} ahead (the prior alone, "
                               f"the actions taken)") for h, drawn in self.imagined.items()
                ] + ["the critic's value and the actor's P(up) by the chicken's real row:"] + [
                    view.line() for view in self.rows]


def score(drawn: Tensor, real: Tensor, hit: Tensor, other: Tensor, stayed_up: Tensor
          ) -> Drawn:
    """Rows drawn against the real ones: at the collisions (`hit`), at the steps where the
    chicken was two or more rows up before and still is (`stayed_up`: a reset drawn there
    has no car to explain it, the baseline for the collisions), and at every `other`
    step."""
    at_bottom = drawn == BOTTOM
    return Drawn(int(hit.sum()), int(other.sum()), share(at_bottom[hit]),
                 share(at_bottom[stayed_up]), share(drawn[other] == real[other]),
                 share(drawn[other] > real[other]))


@torch.no_grad()
def check_freeway(agent: Agent, replay: Replay, windows: int = 64, seq_len: int = 64,
                  seed: int = 0) -> FreewayCheck:
    """Where the model draws the chicken on `windows` replayed windows (sample_windows),
    observed and imagined HORIZONS steps ahead (those a window leaves room for after
    WARMUP), at the collisions and at the other steps; and the critic's value and the
    actor's P(up) by the chicken's real row."""
    batch = sample_windows(replay, windows, seq_len, seed)
    (key, board), *more = batch.obs.items()
    if more or board.dim() != 5 or board.shape[2] != 7:
        raise SystemExit("error: this run's observations are not MinAtar Freeway's board "
                         "(one image of 7 channels); run the check on an env=minatar "
                         "env.game=freeway run")
    fit = agent.cfg.env.image_fit
    real = chicken_rows(board, fit)
    hit = collisions(real, batch.reward, batch.is_first)
    other = ~hit & (batch.reward == 0) & (batch.is_first == 0) & (real >= 0)
    before = torch.cat([torch.full_like(real[:, :1], -1), real[:, :-1]], 1)
    stayed_up = other & (before >= 0) & (before <= BOTTOM - 2)
    wm = agent.world_model
    with evaluating(agent), seeded_posterior(seed):
        states = wm.observe(batch.obs, batch.action, batch.is_first)
        feat = wm.feat(states.h, states.quantized.code)
        seen = chicken_rows(wm.decode(feat)[key], fit)
        kept = slice(WARMUP, None)  # h starts from zeros before WARMUP
        check = FreewayCheck(
            batch.reward[:, kept].numel(), int((batch.reward[:, kept] > 0).sum()),
            score(*(x[:, kept] for x in (seen, real, hit, other, stayed_up))),
            rows=by_row(real[:, kept].flatten(), *values_and_p_up(agent, feat[:, kept])))
        for horizon in (h for h in HORIZONS if WARMUP + h < seq_len):
            h, code, reached, new_episode = imagine_ahead(wm, states, batch, horizon)
            drawn = chicken_rows(wm.decode(wm.feat(h, code))[key], fit)
            inside = ~new_episode
            check.imagined[horizon] = score(drawn[inside], *(
                x[:, reached].flatten()[inside] for x in (real, hit, other, stayed_up)))
    return check


def values_and_p_up(agent: Agent, feat: Tensor) -> tuple[Tensor, Tensor]:
    """[B, T, F] model states -> the critic's value and the actor's probability of "up" in
    each, flattened to [B * T]."""
    ac = agent.actor_critic
    flat = feat.flatten(0, 1)
    logp, *_ = ac.policy.segment_logprobs(ac.actor(flat).float())
    return ac.value(flat).float().flatten(), logp[:, UP].exp()


if __name__ == "__main__":
    check_command(__doc__, check_freeway)
