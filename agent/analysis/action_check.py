"""Does the world model move what the action moves? In each of MinAtar's five games the
object the agent controls (paddle, player, chicken, submarine, cannon) is the board's first
channel, one cell. From every replayed state the prior takes one step fed the action taken,
and the object is drawn from its likeliest code: where the object really moved, is it
drawn at its new cell (and is its old cell still drawn too), and where it stayed, at its
cell? And fed each move instead of the no-op (action 0 in every MinAtar game), in how many
states is it drawn anywhere else?

    python -m agent.analysis.action_check RUN_DIR_OR_CHECKPOINT [--windows 64]
        [--seq-len N] [--seed 0]

A model whose sequence model hardly reads the action draws the object where it was: found
where it stayed, lost where it moved, and the same whatever the action
(docs/results/minatar.md). Imagination then gives the actor little to choose between.
Neither share reaches 100% for a perfect model: with sticky actions (MinAtar's 0.1) the
logged action is not always the one played, and a move can be blocked (a wall, Freeway's
timer between the chicken's steps). They compare models on the same game.
"""

from dataclasses import dataclass

import torch
from torch import Tensor

from agent.agent import Agent, evaluating
from agent.analysis.board_check import BOARD, board_cells, channel_names
from agent.analysis.reward_check import WARMUP, check_command, sample_windows, seeded_posterior
from agent.loop.replay import Replay

CONTROLLED = 0  # the channel of the object the agent moves, in every MinAtar game
NO_OP = 0       # MinAtar's minimal action sets all start with the no-op


@dataclass
class Moves:
    moved: int          # steps where the object moved to another cell
    found_moved: float  # share of them where it is drawn at its new cell
    kept_old: float     # share of them where its old cell is drawn too (a smeared object)
    stayed: int         # steps where it stayed
    found_stayed: float  # share of them where it is drawn at its cell


@dataclass
class ActionCheck:
    name: str            # the controlled object's channel name
    moves: Moves
    differs: list[float]  # per action after the no-op: share drawn off the no-op's cells

    def lines(self) -> list[str]:
        m = self.moves
        moved = (f"{m.moved} steps, drawn there at {100 * m.found_moved:.0f}% (its old cell "
                 f"drawn too at {100 * m.kept_old:.0f}%)" if m.moved else "none")
        stayed = (f"{m.stayed} steps, drawn there at {100 * m.found_stayed:.0f}%"
                  if m.stayed else "none")
        actions = ", ".join(f"{a}: {100 * d:.0f}%" for a, d in enumerate(self.differs, 1))
        return [f"the {self.name}, one prior step ahead fed the action taken (likeliest code):",
                f"  where it moved to another cell: {moved}",
                f"  where it stayed: {stayed}",
                f"  fed action a instead of the no-op (0), drawn elsewhere in: {actions}"]


def share(hits: Tensor, where: Tensor) -> float:
    return float(hits[where].float().mean()) if where.any() else 0.0


def score_moves(before: Tensor, after: Tensor, drawn: Tensor) -> Moves:
    """[N, 10, 10] real cells of a one-cell object before and after a step, and the cells
    drawn for after."""
    moved = (before != after).flatten(1).any(1)
    found = (drawn & after).flatten(1).any(1)
    old = (drawn & before).flatten(1).any(1)
    return Moves(int(moved.sum()), share(found, moved), share(old, moved),
                 int((~moved).sum()), share(found, ~moved))


@torch.no_grad()
def check_actions(agent: Agent, replay: Replay, windows: int = 64, seq_len: int = 64,
                  seed: int = 0) -> ActionCheck:
    """Score `windows` replayed windows (sample_windows), steps after WARMUP whose next
    step is in the same episode and where the object is one cell at both."""
    batch = sample_windows(replay, windows, seq_len, seed)
    (key, image), *more = batch.obs.items()
    if (not agent.cfg.env.id.startswith("MinAtar/") or more or image.dim() != 5
            or image.shape[-1] < BOARD):
        raise SystemExit("error: this run's observations are not a MinAtar board; run the "
                         "check on an env=minatar run")
    fit = agent.cfg.env.image_fit
    cells = board_cells(image, fit)[:, :, CONTROLLED]  # [B, T, 10, 10]
    wm = agent.world_model
    starts = torch.arange(WARMUP, batch.action.shape[1] - 1)
    before, after = cells[:, starts].flatten(0, 1), cells[:, starts + 1].flatten(0, 1)
    one_cell = (before.flatten(1).sum(1) == 1) & (after.flatten(1).sum(1) == 1)
    keep = one_cell & (batch.is_first[:, starts + 1].flatten() == 0)
    if not keep.any():
        raise SystemExit("error: no replayed step shows the controlled object as one cell "
                         "before and after it within an episode; try more --windows")
    with evaluating(wm), seeded_posterior(seed):
        states = wm.observe(batch.obs, batch.action, batch.is_first)
        h = states.h[:, starts].flatten(0, 1)[keep]
        code = states.quantized.code[:, starts].flatten(0, 1)[keep]

        def drawn(action: Tensor) -> Tensor:
            nxt = wm.step(h, code, action)
            image = wm.decode(wm.feat(nxt, wm.likeliest_code(nxt)))[key]
            return board_cells(image, fit)[:, CONTROLLED]

        taken = batch.action[:, starts].flatten(0, 1)[keep]
        moves = score_moves(before[keep], after[keep], drawn(taken))
        one_hot = torch.eye(taken.shape[-1], dtype=taken.dtype, device=taken.device)
        tried = [drawn(a.expand_as(taken)) for a in one_hot]
    differs = [float((t != tried[NO_OP]).flatten(1).any(1).float().mean())
               for a, t in enumerate(tried) if a != NO_OP]
    names = channel_names(agent.cfg.env.id, image.shape[2])
    return ActionCheck(names[CONTROLLED], moves, differs)


if __name__ == "__main__":
    check_command(__doc__, check_actions)
