"""The Breakout check (agent/analysis/breakout_check.py) plays greedy episodes in the real
game and reads, at each loss, whether the paddle could still have reached the ball."""

from itertools import pairwise

import pytest

from agent.analysis.breakout_check import Step, check_breakout, last_descent
from tests.helpers import env_interface_at_16, minatar_agent_and_replay

pytest.importorskip("minatar", reason="the minatar extra is not installed")


def test_the_last_descent_counts_the_steps_and_columns_from_the_balls_last_turn_down():
    # the ball goes up to row 4, strikes a brick (stays on row 4), then falls right to row 9
    path = [(7, 2, 6), (6, 3, 5), (5, 4, 4), (5, 5, 4), (5, 6, 5), (6, 7, 6), (6, 8, 7),
            (7, 9, 8), (7, 9, 9)]
    steps = [Step(paddle, x, y, 0) for paddle, x, y in path]
    loss = last_descent(steps)
    assert loss.steps_left == 5  # from the state on row 4 after the strike
    assert loss.distance == 4    # paddle at 5 then, the ball fell from column 9 into 9
    assert loss.reachable
    far = [Step(0, x, y, 0) for _, x, y in path]
    assert last_descent(far).distance == 9 and not last_descent(far).reachable
    # the ball falls left from column 3 into 2: a paddle under 3 catches it too (it moves
    # before the ball), so from column 5 the nearest catching column is 2 away, not 3
    falling_left = [(9, 5), (8, 4), (7, 4), (6, 5), (5, 6), (4, 7), (3, 8), (2, 9)]
    near = [Step(5, x, y, 0) for x, y in falling_left]
    assert last_descent(near).steps_left == 5 and last_descent(near).distance == 2
    assert not last_descent(near).sticky
    near[4].sticky = True
    assert last_descent(near).sticky  # a sticky step inside the last descent


def test_the_check_plays_the_real_game_and_refuses_other_runs():
    agent, _ = minatar_agent_and_replay("MinAtar/Breakout-v1")
    codec, spec = env_interface_at_16("MinAtar/Breakout-v1")
    check = check_breakout(agent, codec, spec, episodes=2, trace=3)
    assert len(check.episodes) == 2
    for episode in check.episodes:
        assert episode.lost and episode.steps[-1].ball_y == 9  # the ball passed the paddle
        assert episode.steps[-1].action == -1 and all(0 <= s.action < 3
                                                      for s in episode.steps[:-1])
        for a, b in pairwise(episode.steps):  # the game's paddle, as the actions move it
            moved = b.paddle - a.paddle
            if not a.sticky:
                assert moved == {0: 0, 1: max(-1, -a.paddle), 2: min(1, 9 - a.paddle)}[a.action]
            else:
                assert abs(moved) <= 1
    lines = check.lines()
    assert check_breakout(agent, codec, spec, episodes=2, trace=3).lines() == lines  # seeded
    assert lines[0].startswith("2 greedy episodes: returns ")
    assert "at the 2 losses" in lines[1] and lines[2].startswith("episode 0, its last 3 steps")
    agent.cfg.env.id = "MinAtar/Freeway-v1"
    with pytest.raises(SystemExit, match="not MinAtar Breakout"):
        check_breakout(agent, codec, spec, episodes=1)
