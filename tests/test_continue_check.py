"""The continue check tells a continue head that sees the terminations from one that does not
(agent/analysis/continue_check.py), on real CartPole episodes of a random policy, observed
and imagined ahead."""

import pytest
import torch

from agent.agent import Agent, evaluating
from agent.analysis.continue_check import WARMUP, ContinueCheck, check_continuation, imagine_ahead
from agent.analysis.random_data import random_policy_replay, train_world_model
from agent.analysis.reward_check import sample_windows
from tests.conftest import small_config


@pytest.fixture(scope="module")
def checks() -> tuple[ContinueCheck, ContinueCheck]:
    """The check of a new world model and of the same one trained on the replay (one
    thread, as every test runs: a module fixture is made before the per-test settings)."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    replay = random_policy_replay("CartPole-v1", 1000)  # random play ends every ~20 steps
    cfg = small_config("fsq")
    cfg.train.batch_size = 16
    cfg.train.model_opt.lr = 1e-3  # as the reward check's test: past the base rate sooner
    agent = Agent(4, 2, cfg)
    before = check_continuation(agent, replay, windows=256, seq_len=16)
    train_world_model(agent, replay, 1500)
    return before, check_continuation(agent, replay, windows=256, seq_len=16)


def test_a_trained_head_predicts_the_ends_and_a_new_one_does_not(checks):
    before, after = checks
    assert before.terminal > 50 and before.other > 10 * before.terminal
    assert abs(before.at_terminal - before.at_other) < 0.05  # it knows no step from another
    assert after.at_other > 0.9 and after.at_terminal < 0.5, after
    assert after.terminal_caught > 0.5 and after.false_alarms < 0.05, after
    assert "terminal steps" in after.lines()[1]


def test_the_continuation_imagined_ahead_is_scored_at_each_horizon_a_window_holds(checks):
    before, after = checks
    assert sorted(before.imagined) == [1, 5]  # 16-step windows leave no room for 15 after 8
    assert abs(before.imagined[1].at_terminal - before.imagined[1].at_other) < 0.05
    one = after.imagined[1]
    # a random CartPole episode ends where one more push tips it: foreseeable a step ahead
    assert one.terminal > 50 and one.at_terminal < one.at_other - 0.3, one
    assert [line.split(" (")[0] for line in after.lines()[2:]] == [
        "imagined 1 step ahead", "imagined 5 steps ahead"]


@torch.no_grad()
def test_one_step_imagined_is_the_observed_step_and_no_start_crosses_an_episode():
    """h after one imagined step from s is the observed h of s + 1 (the same f(h, c, a) fed
    the action taken at s), wherever s + 1 does not start an episode; and a start is set
    aside exactly when an episode starts after it, up to the step reached."""
    replay = random_policy_replay("CartPole-v1", 300)  # episodes of ~20 steps: many resets
    agent = Agent(4, 2, small_config("fsq"))
    wm = agent.world_model
    batch = sample_windows(replay, 32, 24, seed=1)
    with evaluating(wm):
        states = wm.observe(batch.obs, batch.action, batch.is_first)
        h, _, reached, new_episode = imagine_ahead(wm, states, batch, 1)
        observed = states.h[:, reached].flatten(0, 1)
        assert new_episode.any() and not new_episode.all()
        assert torch.allclose(h[~new_episode], observed[~new_episode], atol=1e-6)
        assert not torch.allclose(h[new_episode], observed[new_episode], atol=1e-3)
        _, _, reached5, crossed = imagine_ahead(wm, states, batch, 5)
    first = batch.is_first.bool()
    expected = torch.tensor([[bool(first[b, r - 4:r + 1].any()) for r in reached5.tolist()]
                             for b in range(first.shape[0])]).flatten()
    assert torch.equal(crossed, expected)
    assert reached5.tolist() == list(range(WARMUP + 5, 24))
