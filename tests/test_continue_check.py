"""The continue check tells a continue head that sees the terminations from one that does not
(agent/analysis/continue_check.py), on real CartPole episodes of a random policy, observed
and imagined ahead."""

import pytest
import torch

from agent.agent import Agent
from agent.analysis.continue_check import ContinueCheck, check_continuation
from agent.analysis.random_data import random_policy_replay, train_world_model
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
    assert after.imagined[5].terminal <= one.terminal  # fewer starts fit a longer horizon
    assert [line.split(" (")[0] for line in after.lines()[2:]] == [
        "imagined 1 step ahead", "imagined 5 steps ahead"]
