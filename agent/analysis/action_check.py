"""Does the world model move what the action moves? In each of MinAtar's five games the
object the agent controls (paddle, player, chicken, submarine, cannon) is the board's first
channel, one cell. From every replayed state the prior takes one step fed the action taken,
and the object is drawn from its likeliest code: where the object really moved, is it
drawn at its new cell, and where it stayed, at its old one? And fed each other action
instead of the no-op (action 0), in how many states is it drawn anywhere else?

    python -m agent.analysis.action_check RUN_DIR_OR_CHECKPOINT [--windows 64]
        [--seq-len N] [--seed 0]

A model whose sequence model hardly reads the action draws the object where it was: found
where it stayed, lost where it moved, and the same whatever the action
(docs/results/minatar.md). Imagination then gives the actor little to choose between.
"""

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from agent.agent import Agent, evaluating
from agent.analysis.board_check import board_cells, channel_names
from agent.analysis.reward_check import WARMUP, check_command, sample_windows, seeded_posterior
from agent.loop.replay import Replay

CONTROLLED = 0  # the channel of the object the agent moves, in every MinAtar game
NO_OP = 0       # MinAtar's minimal action sets all start with the no-op


@dataclass
class ActionCheck:
    name: str                     # the controlled object's channel name
    moved: tuple[int, float]      # (steps where it moved, share drawn at its new cell)
    stayed: tuple[int, float]     # (steps where it stayed, share drawn at its cell)
    differs: list[float]          # per action but the no-op: share drawn off the no-op's

    def lines(self) -> list[str]:
        def share(count: int, found: float) -> str:
            return f"{count} steps, drawn there at {100 * found:.0f}%" if count else "none"
        actions = ", ".join(f"{a}: {100 * d:.0f}%" for a, d in enumerate(self.differs, 1))
        return [f"the {self.name}, one prior step ahead fed the action taken (likeliest code):",
                f"  where it moved to another cell: {share(*self.moved)}",
                f"  where it stayed: {share(*self.stayed)}",
                f"  fed action a instead of the no-op, drawn elsewhere in: {actions}"]


def found_at(drawn: Tensor, real: Tensor) -> Tensor:
    """[N, 10, 10] drawn and real cells of a one-cell object -> [N] whether the real cell
    is drawn lit."""
    return (drawn & real).flatten(1).any(1)


def moved_and_found(before: Tensor, after: Tensor, drawn: Tensor
                    ) -> tuple[tuple[int, float], tuple[int, float]]:
    """[N, 10, 10] real cells before and after a step and the cells drawn for after ->
    (count, share found) where the object moved and where it stayed."""
    moved = (before != after).flatten(1).any(1)
    hit = found_at(drawn, after).float()
    return tuple((int(m.sum()), float(hit[m].mean()) if m.any() else 0.0)
                 for m in (moved, ~moved))


@torch.no_grad()
def check_actions(agent: Agent, replay: Replay, windows: int = 64, seq_len: int = 64,
                  seed: int = 0) -> ActionCheck:
    """Score `windows` replayed windows (sample_windows), steps after WARMUP whose next
    step is in the same episode and where the object is one cell at both."""
    batch = sample_windows(replay, windows, seq_len, seed)
    (key, image), *more = batch.obs.items()
    if more or image.dim() != 5:
        raise SystemExit("error: this run's observations are not a MinAtar board; run the "
                         "check on an env=minatar run")
    fit = agent.cfg.env.image_fit
    cells = board_cells(image, fit)[:, :, CONTROLLED]  # [B, T, 10, 10]
    wm = agent.world_model
    starts = torch.arange(WARMUP, batch.action.shape[1] - 1)
    before, after = cells[:, starts].flatten(0, 1), cells[:, starts + 1].flatten(0, 1)
    one_cell = (before.flatten(1).sum(1) == 1) & (after.flatten(1).sum(1) == 1)
    keep = one_cell & (batch.is_first[:, starts + 1].flatten() == 0)
    with evaluating(wm), seeded_posterior(seed):
        states = wm.observe(batch.obs, batch.action, batch.is_first)
        h = states.h[:, starts].flatten(0, 1)[keep]
        code = states.quantized.code[:, starts].flatten(0, 1)[keep]

        def drawn(action: Tensor) -> Tensor:
            nxt = wm.step(h, code, action)
            image = wm.decode(wm.feat(nxt, wm.likeliest_code(nxt)))[key]
            return board_cells(image, fit)[:, CONTROLLED]

        taken = batch.action[:, starts].flatten(0, 1)[keep]
        moved, stayed = moved_and_found(before[keep], after[keep], drawn(taken))
        count = taken.shape[-1]
        tried = [drawn(F.one_hot(torch.full((len(h),), a), count).to(taken.dtype))
                 for a in range(count)]
    differs = [float((tried[a] != tried[NO_OP]).flatten(1).any(1).float().mean())
               for a in range(count) if a != NO_OP]
    names = channel_names(agent.cfg.env.id, image.shape[2])
    return ActionCheck(names[CONTROLLED], moved, stayed, differs)


if __name__ == "__main__":
    check_command(__doc__, check_actions)
