"""The board check (agent/analysis/board_check.py) reads MinAtar's own cells back from the
enlarged images training stores, and scores what a model draws channel by channel."""

import numpy as np
import pytest
import torch

from agent.agent import Agent
from agent.analysis.board_check import board_cells, check_board, score
from agent.analysis.random_data import random_policy_replay
from envs import ObservationSpec
from envs.make import make_env
from tests.conftest import small_config
from tests.helpers import minatar_agent_and_replay

pytest.importorskip("minatar", reason="the minatar extra is not installed")


@pytest.mark.parametrize("size, fit", [(16, "resize"), (32, "resize"), (16, "pad")])
def test_the_cells_read_from_a_stored_image_are_the_games_own(size, fit):
    env = make_env("MinAtar/SpaceInvaders-v1")
    spec = ObservationSpec(env.observation_space, size, fit)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    for _ in range(200):
        image = next(iter(spec.to_tensors(obs[None]).values()))[0]
        game = torch.from_numpy(env.unwrapped.game.env.state()).permute(2, 0, 1)  # C, 10, 10
        assert torch.equal(board_cells(image, fit), game)
        obs, *_ = env.step(int(rng.integers(env.action_space.n)))
    env.close()


def test_the_real_board_scores_full_and_an_empty_one_finds_nothing():
    real = torch.zeros(3, 2, 10, 10, dtype=torch.bool)
    real[:, 0, 4, 5] = True          # one cell per board in channel 0
    real[0, 1, :2] = True            # 20 cells on one board in channel 1
    exact = score(real, real)
    assert exact.lit == [3, 20] and exact.found == [1, 1] and exact.right == [1, 1]
    empty = score(torch.zeros_like(real), real)
    assert empty.found == [0, 0] and empty.right == [None, None]  # nothing drawn lit
    moved = real.clone()
    moved[1:, 0] = torch.roll(moved[1:, 0], 1, -1)  # the one cell a column off on 2 boards
    moved[0, 1, 2] = True                            # 10 cells drawn where none are
    off = score(moved, real)
    assert off.found == [pytest.approx(1 / 3), 1]
    assert off.right == [pytest.approx(1 / 3), pytest.approx(20 / 30)]


def test_the_check_scores_a_world_model_on_a_runs_replay_under_the_games_names():
    agent, replay = minatar_agent_and_replay("MinAtar/Breakout-v1")
    check = check_board(agent, replay, windows=16, seq_len=20)
    assert check.channels == ["paddle", "ball", "trail", "brick"]
    assert check.steps == 16 * (20 - 8)
    assert sorted(check.imagined) == [1, 5]  # 20-step windows hold no 15 after 8
    assert check.observed.lit[0] == check.steps  # one paddle cell on every board
    lines = check.lines()
    assert len(lines) == 2 + 4 and lines[2].split()[:2] == ["paddle", str(check.steps)]
    cartpole = random_policy_replay("CartPole-v1", 100)
    with pytest.raises(SystemExit, match="not a MinAtar board"):
        check_board(Agent(4, 2, small_config("fsq")), cartpole, windows=4, seq_len=16)
