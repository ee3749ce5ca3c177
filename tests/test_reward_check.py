"""The reward check tells a reward head that sees the rewards from one that knows only their
average (agent/analysis/reward_check.py), on real cue-recall episodes and a real run's
checkpoint."""

import torch

from agent.agent import Agent
from agent.analysis.memory_probe import random_replay
from agent.analysis.random_data import train_world_model
from agent.analysis.reward_check import check_rewards, load_run
from tests.conftest import small_config
from tests.helpers import smoke_run


def cue_recall_agent() -> Agent:
    cfg = small_config("fsq")
    cfg.model.reward_bins = 255
    cfg.train.model_opt.lr = 1e-3  # as the memory probe's test: past the plateau sooner
    cfg.train.batch_size, cfg.train.seq_len = 16, 16
    return Agent(3, 2, cfg)


def test_a_trained_head_explains_the_rewards_and_an_untrained_one_does_not():
    """Cue recall with the answer due at the cue's own step: every episode is a cue and
    then the answer's +1 or -1. A world model trained on it predicts each sign, a new one
    predicts 0."""
    torch.manual_seed(0)
    replay = random_replay(1000, delay=0)
    agent = cue_recall_agent()
    before = check_rewards(agent, replay, windows=32, seq_len=16)
    assert set(before.by_value) == {-1.0, 1.0}  # the cue steps are episodes' first
    assert before.explained <= 0.0 and before.correlation is None  # a constant prediction
    train_world_model(agent, replay, 800)
    after = check_rewards(agent, replay, windows=32, seq_len=16)
    assert after.explained > 0.7, after
    assert after.correlation > 0.8, after
    predicted = {value: mean for value, (_, mean) in after.by_value.items()}
    assert predicted[1.0] > 0.5 and predicted[-1.0] < -0.5, after
    # the first 8 steps of each window are left out, and so are episodes' first steps
    assert after.steps == 32 * (16 - 8) // 2


def test_the_check_reads_a_run_folder_and_leaves_its_replay_sampler_alone(tmp_path):
    smoke_run(tmp_path)  # a real 200-step CartPole run
    agent, replay, env_steps = load_run(tmp_path / "run")
    assert env_steps == 200 and replay.written == 200
    state = replay.rng.bit_generator.state
    result = check_rewards(agent, replay, windows=4, seq_len=16)
    assert replay.rng.bit_generator.state == state
    # CartPole pays 1 at every step: nothing varies for the head to explain
    assert result.by_value.keys() == {1.0} and result.explained is None
    assert "variance explained -" in result.lines()[0]
