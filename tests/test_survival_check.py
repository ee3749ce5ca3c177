"""The survival check (agent/analysis/survival_check.py) plays greedy MinAtar episodes and,
where the action decides whether the game goes on, asks the real game and the world model
which actions keep it going."""

import pytest
import torch

from agent.agent import Agent
from agent.analysis.survival_check import Decision, check_survival
from tests.conftest import small_config
from tests.helpers import env_interface_at_16, minatar_agent_and_replay

pytest.importorskip("minatar", reason="the minatar extra is not installed")


def test_a_decision_scores_the_models_likeliest_survivor_and_the_actors_mass_on_survivors():
    d = Decision(survives=[False, True, True], imagined=[0.9, 0.5, 0.2],
                 probs=[0.7, 0.2, 0.1], greedy=0)
    assert not d.model_right and d.actor_mass == pytest.approx(0.3)
    d = Decision(survives=[False, True, False], imagined=[0.1, 0.8, 0.3],
                 probs=[0.1, 0.85, 0.05], greedy=1)
    assert d.model_right and d.actor_mass == pytest.approx(0.85)
    tied = Decision(survives=[True, False, True], imagined=[1.0, 1.0, 0.2],
                    probs=[0.3, 0.3, 0.4], greedy=2)
    assert not tied.model_right  # a tie with an action that ends the game is not a pick


def test_the_check_plays_a_minatar_game_repeatably_and_refuses_other_envs():
    agent, _ = minatar_agent_and_replay("MinAtar/Breakout-v1")
    codec, spec = env_interface_at_16("MinAtar/Breakout-v1")
    agent.train()
    callers_stream = torch.get_rng_state()
    check = check_survival(agent, codec, spec, episodes=2, horizon=3, samples=2)
    assert agent.training and torch.equal(torch.get_rng_state(), callers_stream)
    assert len(check.returns) == 2 and check.steps > 0
    assert check.decisions, "an untrained paddle meets falling balls it can and cannot catch"
    for d in check.decisions:
        assert any(d.survives) and not all(d.survives) and len(d.imagined) == 3
        assert all(0 <= p <= 1 for p in d.imagined) and sum(d.probs) == pytest.approx(1)
    lines = check.lines()
    assert lines[0].startswith("2 greedy episodes (returns ")
    assert lines[1].startswith("  the model: its likeliest survivor survives at ")
    again = check_survival(agent, codec, spec, episodes=2, horizon=3, samples=2)
    assert again.lines() == lines  # seeded: the same episodes, the same imagination
    cartpole = Agent(4, 2, small_config("fsq"))
    with torch.no_grad(), pytest.raises(SystemExit, match="not a MinAtar game"):
        check_survival(cartpole, *env_interface_at_16("CartPole-v1"), episodes=1)
