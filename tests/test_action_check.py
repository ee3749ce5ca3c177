"""The action check (agent/analysis/action_check.py): where the controlled object moved
and where it stayed, is it drawn at its real cell one prior step ahead, and does another
action draw it elsewhere."""

import pytest
import torch

from agent.agent import Agent
from agent.analysis.action_check import Moves, check_actions, score_moves
from agent.analysis.board_check import board_cells
from agent.analysis.random_data import random_policy_replay
from agent.analysis.reward_check import WARMUP, sample_windows
from tests.conftest import small_config
from tests.helpers import minatar_agent_and_replay


def boards(*cells: tuple[int, int]) -> torch.Tensor:
    out = torch.zeros(len(cells), 10, 10, dtype=torch.bool)
    for i, (row, col) in enumerate(cells):
        out[i, row, col] = True
    return out


def test_moved_and_stayed_steps_are_scored_at_the_cell_reached():
    before = boards((9, 4), (9, 4), (9, 4), (5, 5))
    after = boards((9, 5), (9, 5), (9, 4), (5, 5))   # moved, moved, stayed, stayed
    drawn = boards((9, 5), (9, 4), (9, 4), (5, 6))   # new cell, old cell, right, off
    drawn[0, 9, 4] = True                            # the first also smeared over its old cell
    assert score_moves(before, after, drawn) == Moves(2, 0.5, 1.0, 2, 0.5)
    assert score_moves(before[2:], after[2:], drawn[2:]) == Moves(0, 0.0, 0.0, 2, 0.5)


def test_the_check_scores_every_step_with_one_paddle_cell_before_and_after_in_an_episode():
    pytest.importorskip("minatar", reason="the minatar extra is not installed")
    agent, replay = minatar_agent_and_replay("MinAtar/Breakout-v1")
    check = check_actions(agent, replay, windows=16, seq_len=20, seed=3)
    # The same windows, counted from the boards: steps t >= WARMUP with a step t + 1 in
    # the same episode, the paddle one cell at both.
    batch = sample_windows(replay, 16, 20, 3)
    (image,) = batch.obs.values()
    paddle = board_cells(image)[:, :, 0]
    moved = stayed = 0
    for w in range(16):
        for t in range(WARMUP, 19):
            if batch.is_first[w, t + 1] or paddle[w, t].sum() != 1 or paddle[w, t + 1].sum() != 1:
                continue
            if torch.equal(paddle[w, t], paddle[w, t + 1]):
                stayed += 1
            else:
                moved += 1
    assert (check.moves.moved, check.moves.stayed) == (moved, stayed)
    assert moved > 0 and stayed > 0
    assert check.name == "paddle"
    assert len(check.differs) == 2 and all(0 <= d <= 1 for d in check.differs)
    lines = check.lines()
    assert lines[0].startswith("the paddle") and lines[-1].endswith(
        ", ".join(f"{a}: {100 * d:.0f}%" for a, d in enumerate(check.differs, 1)))


def test_runs_that_are_not_minatar_are_refused():
    pytest.importorskip("minatar", reason="the minatar extra is not installed")
    cartpole = random_policy_replay("CartPole-v1", 100)
    with pytest.raises(SystemExit, match="not a MinAtar board"):
        check_actions(Agent(4, 2, small_config("fsq")), cartpole, windows=4, seq_len=16)
    agent, breakout = minatar_agent_and_replay("MinAtar/Breakout-v1")
    agent.cfg.env.id = "ALE/Breakout-v5"  # an image of the same shape from another env
    with pytest.raises(SystemExit, match="not a MinAtar board"):
        check_actions(agent, breakout, windows=4, seq_len=16)
