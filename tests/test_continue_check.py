"""The continue check tells a continue head that sees the terminations from one that does not
(agent/analysis/continue_check.py), on real CartPole episodes of a random policy."""

import torch

from agent.agent import Agent
from agent.analysis.continue_check import check_continuation
from agent.analysis.random_data import random_policy_replay, train_world_model
from tests.conftest import small_config


def test_a_trained_head_predicts_the_ends_and_a_new_one_does_not():
    torch.manual_seed(0)
    replay = random_policy_replay("CartPole-v1", 1000)  # random play ends every ~20 steps
    cfg = small_config("fsq")
    cfg.train.batch_size = 16
    cfg.train.model_opt.lr = 1e-3  # as the reward check's test: past the base rate sooner
    agent = Agent(4, 2, cfg)
    before = check_continuation(agent, replay, windows=256, seq_len=16)
    assert before.terminal > 50 and before.other > 10 * before.terminal
    assert abs(before.at_terminal - before.at_other) < 0.05  # it knows no step from another
    train_world_model(agent, replay, 1500)
    after = check_continuation(agent, replay, windows=256, seq_len=16)
    assert after.at_other > 0.9 and after.at_terminal < 0.5, after
    assert after.terminal_caught > 0.5 and after.false_alarms < 0.05, after
    assert "terminal steps" in after.lines()[1]
