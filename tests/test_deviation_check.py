"""The deviation check (agent/analysis/deviation_check.py): the imagined return of each
action taken once or held, at the steps where the real MinAtar game says holding one
action keeps it going and holding another ends it."""

import pytest
import torch

from agent.agent import Agent
from agent.analysis.deviation_check import (
    best_survives,
    check_deviations,
    imagined_returns,
    survivor_margin,
)
from agent.behavior.imagination import imagine
from agent.behavior.returns import lambda_return
from tests.conftest import small_config
from tests.helpers import env_interface_at_16, minatar_agent_and_replay

pytest.importorskip("minatar", reason="the minatar extra is not installed")


def test_the_survivors_best_return_and_margin_by_hand():
    assert best_survives([False, True, True], [0.1, 0.9, 0.4])
    assert not best_survives([True, False, True], [0.5, 0.5, 0.2])  # a tie with an ender
    assert survivor_margin([False, True, True], [0.3, 0.9, 0.4]) == pytest.approx(0.6)
    assert survivor_margin([True, False, False], [0.2, 0.5, 0.1]) == pytest.approx(-0.3)


def agent_with_heads_that_vary():
    """An untrained MinAtar agent whose reward and critic heads give different values to
    different states (fresh ones start at zero: every return would be 0)."""
    agent, _ = minatar_agent_and_replay("MinAtar/Breakout-v1")
    torch.manual_seed(11)
    with torch.no_grad():
        for head in (agent.world_model.reward, agent.actor_critic.critic):
            for p in head.parameters():
                p.normal_(0.0, 0.3)
    return agent


@pytest.mark.parametrize("held", [True, False])
def test_the_returns_are_training_s_lambda_returns_of_each_first_action(held):
    agent = agent_with_heads_that_vary()
    agent.eval()
    wm, ac, cfg = agent.world_model, agent.actor_critic, agent.cfg.ac
    state = agent.initial_state(1)
    with torch.no_grad():
        torch.manual_seed(3)
        got = imagined_returns(agent, state, 3, samples=2, held=held)
        # The same draws through training's own imagination, each action's rollouts side
        # by side: the first action given, then held or the actor's.
        torch.manual_seed(3)
        first, calls = torch.eye(3).repeat_interleave(2, 0), []

        def policy(feat):
            calls.append(feat)
            return first if len(calls) == 1 or held else ac.act(feat)

        traj = imagine(wm, policy, state.h.expand(6, -1), state.code.expand(6, -1),
                       cfg.horizon)
        want = lambda_return(wm.reward_mean(traj.feat[1:]), wm.cont_prob(traj.feat[1:]),
                             ac.value(traj.feat), cfg.gamma, cfg.lam)[0].view(3, 2).mean(1)
    assert len(calls) == cfg.horizon
    assert torch.allclose(got, want)
    assert got.std() > 1e-3, "the actions' returns differ, so a wrong index would show"
    if not held:
        assert torch.equal(traj.action[0], first) and not torch.equal(traj.action[1], first)


def test_the_check_plays_repeatably_and_refuses_other_envs():
    agent = agent_with_heads_that_vary()
    codec, spec = env_interface_at_16("MinAtar/Breakout-v1")
    agent.train()
    callers_stream = torch.get_rng_state()
    check = check_deviations(agent, codec, spec, episodes=2, horizon=3, samples=2)
    assert agent.training and torch.equal(torch.get_rng_state(), callers_stream)
    assert len(check.returns) == 2 and check.steps > 0 and check.scale >= 1
    assert check.deviations, "an untrained paddle meets falling balls it can and cannot catch"
    for d in check.deviations:
        assert any(d.survives) and not all(d.survives)
        assert len(d.one_step) == len(d.held) == 3
    lines = check.lines()
    assert lines[1].startswith("  ") and "in the last 3 steps before a game over:" in lines[1]
    assert any(line.startswith("    each action taken once, the policy after: the highest")
               for line in lines)
    before = [d for d in check.deviations if d.before_loss]
    assert len(before) <= 3 * sum(1 for r in check.returns)  # 3 steps per lost episode
    assert check_deviations(agent, codec, spec, episodes=2, horizon=3,
                            samples=2).lines() == lines
    cartpole = Agent(4, 2, small_config("fsq"))
    with pytest.raises(SystemExit, match="not a MinAtar game"):
        check_deviations(cartpole, *env_interface_at_16("CartPole-v1"), episodes=1)
