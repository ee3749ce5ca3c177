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
from agent.behavior.returns import lambda_return
from tests.conftest import small_config
from tests.helpers import env_interface_at_16, minatar_agent_and_replay

pytest.importorskip("minatar", reason="the minatar extra is not installed")


def test_the_survivors_best_return_and_margin_by_hand():
    assert best_survives([False, True, True], [0.1, 0.9, 0.4])
    assert not best_survives([True, False, True], [0.5, 0.5, 0.2])  # a tie with an ender
    assert survivor_margin([False, True, True], [0.3, 0.9, 0.4]) == pytest.approx(0.6)
    assert survivor_margin([True, False, False], [0.2, 0.5, 0.1]) == pytest.approx(-0.3)


def test_held_returns_are_the_lambda_returns_of_the_prior_fed_that_action():
    agent, _ = minatar_agent_and_replay("MinAtar/Breakout-v1")
    agent.eval()
    wm, ac, cfg = agent.world_model, agent.actor_critic, agent.cfg.ac
    state = agent.initial_state(1)
    with torch.no_grad():
        torch.manual_seed(3)
        got = imagined_returns(agent, state, 3, samples=2, held=True)
        # the same draws by hand, each action's rollouts side by side
        torch.manual_seed(3)
        hold = torch.eye(3).repeat_interleave(2, 0)
        h, code = state.h.expand(6, -1), state.code.expand(6, -1)
        feats = [wm.feat(h, code)]
        for _ in range(cfg.horizon):
            h = wm.step(h, code, hold)
            code = wm.sample_code(h)
            feats.append(wm.feat(h, code))
        feat = torch.stack(feats)
        want = lambda_return(wm.reward_mean(feat[1:]), wm.cont_prob(feat[1:]), ac.value(feat),
                             cfg.gamma, cfg.lam)[0].view(3, 2).mean(1)
    assert torch.allclose(got, want)


def test_the_check_plays_repeatably_and_refuses_other_envs():
    agent, _ = minatar_agent_and_replay("MinAtar/Breakout-v1")
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
    assert lines[1].startswith("  each action taken once, the policy after: ")
    assert lines[2].startswith("  each action held throughout: ")
    assert check_deviations(agent, codec, spec, episodes=2, horizon=3,
                            samples=2).lines() == lines
    cartpole = Agent(4, 2, small_config("fsq"))
    with pytest.raises(SystemExit, match="not a MinAtar game"):
        check_deviations(cartpole, *env_interface_at_16("CartPole-v1"), episodes=1)
