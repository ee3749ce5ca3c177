"""The Freeway check (agent/analysis/freeway_check.py) reads the chicken's row and the
collisions from the boards as training stores them, as MinAtar's game itself has them."""

import numpy as np
import pytest
import torch

from agent.agent import Agent
from agent.analysis.freeway_check import (
    BOTTOM,
    UP,
    by_row,
    check_freeway,
    chicken_rows,
    collisions,
    score,
)
from agent.analysis.random_data import random_policy_replay
from envs import ObservationSpec
from envs.make import make_env
from tests.conftest import small_config
from tests.helpers import minatar_agent_and_replay

pytest.importorskip("minatar", reason="the minatar extra is not installed")


def play_freeway(steps: int, seed: int = 0, fit: str = "resize") -> tuple[
        torch.Tensor, list[int], list[float], list[bool]]:
    """A real Freeway game without sticky actions, pressing "up" three times in four: the
    boards stored at 16 x 16 (env=minatar's size), and at each step the game's own chicken
    row, the reward on arriving there and whether a car hit the chicken on the way (it
    ended at the bottom, unpaid, where its own move would not have taken it)."""
    env = make_env("MinAtar/Freeway-v1", {"sticky_action_prob": 0.0})
    spec = ObservationSpec(env.observation_space, 16, fit)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    game = env.unwrapped.game.env
    boards, rows, rewards, hits = [], [], [0.0], [False]
    for _ in range(steps):
        boards.append(next(iter(spec.to_tensors(obs[None]).values()))[0])
        rows.append(game.pos)
        action = UP if rng.random() < 0.75 else 0
        moved_to = game.pos - (action == UP and game.move_timer == 0)
        obs, reward, *_ = env.step(action)
        rewards.append(float(reward))
        hits.append(game.pos == BOTTOM and reward == 0 and moved_to != BOTTOM)
    env.close()
    return torch.stack(boards), rows, rewards[:-1], hits[:-1]


def test_the_chicken_row_and_the_collisions_are_the_games_own():
    boards, rows, rewards, hits = play_freeway(600)
    assert boards.shape[-2:] == (16, 16)  # enlarged from 10 x 10: rows span 1 or 2 pixels
    assert chicken_rows(boards).tolist() == rows
    reward = torch.tensor(rewards)[None]
    counted = collisions(torch.tensor(rows)[None], reward, torch.zeros_like(reward))[0]
    # every hit the game made from two or more rows up, and nothing else
    assert counted.tolist() == [hit and t > 0 and rows[t - 1] <= BOTTOM - 2
                                for t, hit in enumerate(hits)]
    assert counted.sum() >= 3 and sum(r > 0 for r in rewards) >= 1  # both kinds happened
    empty = boards[:1].clone()
    empty[:, 0] = 0
    assert chicken_rows(empty).tolist() == [-1]  # no chicken drawn: no row


def test_the_chicken_row_is_read_from_a_padded_board_too():
    boards, rows, _, _ = play_freeway(300, fit="pad")
    assert chicken_rows(boards, "pad").tolist() == rows
    outside = torch.zeros_like(boards[:1])
    outside[0, 0, 1, 5] = 255  # drawn on the empty canvas above the board: no row
    assert chicken_rows(outside, "pad").tolist() == [-1]
    hazy = boards[:1].clone()  # a decoded board with a brighter haze on the canvas
    hazy[0, 0, 0] = 200
    assert chicken_rows(hazy, "pad").tolist() == rows[:1]


def test_a_model_that_draws_the_real_rows_scores_full_and_one_that_draws_the_bottom_does_not():
    real = torch.tensor([9, 7, 6, 9, 8, 7, 5, 9])
    hit = torch.tensor([0, 0, 0, 1, 0, 0, 0, 0]).bool()  # 6 -> 9: a car
    other = ~hit
    stayed_up = torch.tensor([0, 0, 1, 0, 0, 0, 1, 0]).bool()  # 7 -> 6, 7 -> 5
    exact = score(real, real, hit, other, stayed_up)
    assert (exact.collisions, exact.others) == (1, 7)
    assert (exact.sent_back, exact.false_back, exact.on_row, exact.below) == (1, 0, 1, 0)
    bottom = score(torch.full_like(real, BOTTOM), real, hit, other, stayed_up)
    assert bottom.sent_back == 1 and bottom.false_back == 1
    assert bottom.on_row == pytest.approx(2 / 7) and bottom.below == pytest.approx(5 / 7)
    stuck = score(torch.tensor([9, 7, 6, 6, 8, 7, 5, 9]), real, hit, other, stayed_up)
    assert stuck.sent_back == 0 and stuck.on_row == 1  # right everywhere but the collision
    none = score(real, real, hit & False, other, stayed_up & False)
    assert none.sent_back is None and "n/a of 0 collisions" in none.line("x")


def test_the_value_and_p_up_by_row_are_the_means_over_the_states_on_each_row():
    rows = torch.tensor([9, 9, 3, -1, 3, 0])
    value = torch.tensor([0.0, 0.2, 1.0, 5.0, 2.0, 4.0])
    p_up = torch.tensor([0.3, 0.5, 0.9, 0.0, 0.7, 1.0])
    views = by_row(rows, value, p_up)
    assert [(v.row, v.states) for v in views] == [(0, 1), (3, 2), (9, 2)]  # no row -1
    assert [v.value for v in views] == pytest.approx([4.0, 1.5, 0.1])
    assert [v.p_up for v in views] == pytest.approx([1.0, 0.8, 0.4])
    assert views[1].line() == "  row 3: 2 states, value +1.500, P(up) 0.800"


def test_the_check_scores_a_world_model_on_a_runs_replay_and_refuses_other_boards():
    agent, replay = minatar_agent_and_replay("MinAtar/Freeway-v1")
    check = check_freeway(agent, replay, windows=16, seq_len=20)
    assert check.steps == 16 * (20 - 8)
    assert sorted(check.imagined) == [1, 5]  # 20-step windows hold no 15 after 8
    assert check.observed.others > 0 and 0 <= check.observed.on_row <= 1
    assert check.lines()[0].startswith(f"the chicken over {check.steps} replayed steps")
    assert sum(view.states for view in check.rows) <= check.steps  # rows where it is seen
    assert all(0 <= view.p_up <= 1 for view in check.rows) and check.rows
    assert check.lines()[-len(check.rows):] == [view.line() for view in check.rows]
    cartpole = random_policy_replay("CartPole-v1", 100)
    with pytest.raises(SystemExit, match="not MinAtar Freeway's board"):
        check_freeway(Agent(4, 2, small_config("fsq")), cartpole, windows=4, seq_len=16)
