"""The decisive steps of a greedy MinAtar episode (agent/analysis/decisive_steps.py): where
holding one action keeps the real game going and holding another ends it."""

import pytest

from agent.agent import evaluating
from agent.analysis.decisive_steps import decisive_steps, held_survival
from agent.analysis.greedy_play import GreedyEpisode
from envs.make import make_env
from tests.helpers import env_interface_at_16, minatar_agent_and_replay

pytest.importorskip("minatar", reason="the minatar extra is not installed")


def test_held_survival_plays_copies_of_the_real_game_and_leaves_it_as_it_was():
    env = make_env("MinAtar/Breakout-v1")
    env.reset(seed=0)
    game = env.unwrapped.game.env
    # the ball falls to the right: from column 5, row 6 it lands in column 8 in 3 steps
    game.ball_x, game.ball_y, game.ball_dir, game.pos = 5, 6, 2, 5
    bricks = game.brick_map.copy()
    noop, left, right = env.unwrapped.action_set
    # held right, the paddle (moving first) reaches column 8 as the ball does; else lost
    assert held_survival(game, [noop, left, right], horizon=5) == [False, False, True]
    assert held_survival(game, [noop, left, right], horizon=2) == [True, True, True]
    assert (game.ball_x, game.ball_y, game.ball_dir, game.pos) == (5, 6, 2, 5)
    assert (game.brick_map == bricks).all() and not game.terminal
    env.close()


def test_decisive_steps_are_the_mixed_steps_of_the_same_greedy_play():
    agent, _ = minatar_agent_and_replay("MinAtar/Breakout-v1")
    codec, spec = env_interface_at_16("MinAtar/Breakout-v1")
    with evaluating(agent):
        plain = GreedyEpisode(agent, codec, spec, seed=3)
        actions, mixed = [], []  # the plain play, and where held actions disagree in it
        game, action_set = plain.env.unwrapped.game.env, plain.env.unwrapped.action_set
        for t, step in enumerate(plain):
            actions.append(step.action)
            survives = held_survival(game, action_set, horizon=3)
            if any(survives) and not all(survives):
                mixed.append(t)
        episode = GreedyEpisode(agent, codec, spec, seed=3)
        found = list(decisive_steps(episode, horizon=3))
    assert found, "an untrained paddle meets falling balls it can and cannot catch"
    assert episode.length == plain.length == len(actions)  # every step counted, not only these
    assert (episode.ret, episode.terminated) == (plain.ret, plain.terminated)
    assert [t for t, _, _ in found] == mixed  # every mixed step, and only those
    for t, step, survives in found:
        assert step.action == actions[t]  # looking ahead on copies leaves the play as it was
        assert len(survives) == 3 and any(survives) and not all(survives)
    replayed = [step.action for step in plain]  # a second pass counts anew
    assert plain.length == len(replayed)
