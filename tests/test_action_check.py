"""The action check (agent/analysis/action_check.py): where the controlled object moved
and where it stayed, is it drawn at its real cell one prior step ahead, and does another
action draw it elsewhere."""

import pytest
import torch

from agent.agent import Agent
from agent.analysis.action_check import check_actions, moved_and_found
from agent.analysis.random_data import random_policy_replay
from tests.conftest import small_config
from tests.helpers import minatar_agent_and_replay

pytest.importorskip("minatar", reason="the minatar extra is not installed")


def boards(*cells: tuple[int, int]) -> torch.Tensor:
    out = torch.zeros(len(cells), 10, 10, dtype=torch.bool)
    for i, (row, col) in enumerate(cells):
        out[i, row, col] = True
    return out


def test_moved_and_stayed_steps_are_scored_at_the_cell_reached():
    before = boards((9, 4), (9, 4), (9, 4), (5, 5))
    after = boards((9, 5), (9, 5), (9, 4), (5, 5))   # moved, moved, stayed, stayed
    drawn = boards((9, 5), (9, 4), (9, 4), (5, 6))   # new cell, old cell, right, off
    moved, stayed = moved_and_found(before, after, drawn)
    assert moved == (2, 0.5) and stayed == (2, 0.5)
    none_moved = moved_and_found(before[2:], after[2:], drawn[2:])
    assert none_moved == ((0, 0.0), (2, 0.5))


def test_the_check_reads_a_breakout_models_paddle_on_its_replay():
    agent, replay = minatar_agent_and_replay("MinAtar/Breakout-v1")
    check = check_actions(agent, replay, windows=16, seq_len=20)
    assert check.name == "paddle"
    (moved, _), (stayed, _) = check.moved, check.stayed
    assert 0 < moved and 0 < stayed
    assert moved + stayed <= 16 * (20 - 8 - 1)  # steps after the warm-up with a next one
    assert len(check.differs) == 2  # left and right, each against the no-op
    assert all(0 <= d <= 1 for d in check.differs)
    lines = check.lines()
    assert lines[0].startswith("the paddle") and "1: " in lines[-1] and "2: " in lines[-1]
    cartpole = random_policy_replay("CartPole-v1", 100)
    with pytest.raises(SystemExit, match="not a MinAtar board"):
        check_actions(Agent(4, 2, small_config("fsq")), cartpole, windows=4, seq_len=16)
