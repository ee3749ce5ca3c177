"""The policy check reports what the actor does in replayed states
(agent/analysis/policy_check.py): on a real run's checkpoint, and on an actor whose
preference is set by hand, where every figure is known."""

import math
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path
from unittest.mock import patch

import pytest
import torch
from gymnasium.spaces import Box, Discrete, MultiDiscrete

from agent.agent import Agent
from agent.analysis.policy_check import check_policy
from agent.analysis.random_data import random_policy_replay
from agent.analysis.reward_check import check_rewards, load_run
from envs import ActionCodec
from tests.conftest import small_config
from tests.helpers import ROOT, smoke_run


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    """A real 200-step CartPole run, shared: each test loads its own agent from it."""
    tmp_path = tmp_path_factory.mktemp("policy_check")
    smoke_run(tmp_path)
    return tmp_path / "run"


def test_the_check_reads_a_run_folder_and_its_figures_are_distributions(run_folder):
    agent, replay, _ = load_run(run_folder)
    state = replay.rng.bit_generator.state
    result = check_policy(agent, replay, windows=4, seq_len=16)
    assert replay.rng.bit_generator.state == state  # the run's sampler is left alone
    assert result.steps == 4 * (16 - 8)  # the first 8 steps of each window left out
    (probs,), (shares,) = result.mean_probs, result.greedy_shares
    assert len(probs) == 2 and sum(probs) == pytest.approx(1.0)
    assert sum(shares) == pytest.approx(1.0)
    assert 0.0 < result.entropy <= result.max_entropy == pytest.approx(math.log(2))
    assert "the greedy choice in" in result.lines()[1]


def test_a_slight_preference_held_in_every_state_is_the_greedy_choice_everywhere(run_folder):
    agent, replay, _ = load_run(run_folder)
    head = agent.actor_critic.actor[-1]
    with torch.no_grad():  # logits (0, 0.4) whatever the state
        head.weight.zero_()
        head.bias.copy_(torch.tensor([0.0, 0.4]))
    result = check_policy(agent, replay, windows=4, seq_len=16)
    unimix = agent.cfg.ac.unimix
    preferred = (1 - unimix) * torch.sigmoid(torch.tensor(0.4)).item() + unimix / 2
    assert result.mean_probs[0] == pytest.approx([1 - preferred, preferred], abs=1e-5)
    assert result.greedy_shares == [[0.0, 1.0]]  # sampled 60% of the time, greedy always
    assert result.tied_shares == [0.0]
    near_uniform = -(preferred * math.log(preferred) + (1 - preferred) * math.log(1 - preferred))
    assert result.entropy == pytest.approx(near_uniform, abs=1e-5)


def test_continuous_actions_and_windows_too_short_to_score_are_refused_with_a_message(
        run_folder):
    agent = Agent(3, ActionCodec(Box(-1.0, 1.0, (2,))), small_config())
    with pytest.raises(SystemExit, match="discrete actions"):
        check_policy(agent, replay=None)
    agent, replay, _ = load_run(run_folder)
    with pytest.raises(SystemExit, match="no state to score.*--seq-len"):
        check_policy(agent, replay, windows=4, seq_len=8)
    with pytest.raises(SystemExit, match="use --windows 1 or more"):
        check_policy(agent, replay, windows=0, seq_len=16)
    with pytest.raises(SystemExit, match="fewer steps per env than windows of 500; use "
                                         "shorter windows"):
        check_policy(agent, replay, windows=4, seq_len=500)  # the run kept 200 steps


def test_the_command_scores_windows_of_the_length_asked(run_folder):
    shown = subprocess.run([sys.executable, "-m", "agent.analysis.policy_check",
                            str(run_folder), "--windows", "2", "--seq-len", "12"],
                           cwd=ROOT, check=True, capture_output=True, text=True).stdout
    assert "policy over 8 replayed states" in shown  # 2 windows x (12 - 8 left out)


def test_a_sampled_code_is_scored_the_same_each_time_and_the_callers_random_state_kept():
    """The categorical posterior samples its code: the checks seed it, so they repeat,
    and another seed draws other codes (so the repeat is not a deterministic code's)."""
    replay = random_policy_replay("CartPole-v1", steps=100, num_envs=1)
    agent = Agent(4, ActionCodec(Discrete(2)), small_config("categorical"))
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = check_policy(agent, replay, windows=4, seq_len=16, seed=0)
    rewards = check_rewards(agent, replay, windows=4, seq_len=16, seed=0)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's draws are not moved
    assert check_policy(agent, replay, windows=4, seq_len=16, seed=0) == first
    assert check_rewards(agent, replay, windows=4, seq_len=16, seed=0) == rewards
    torch.manual_seed(1)  # the same windows' codes drawn from other random numbers
    with patch("agent.analysis.policy_check.seeded_posterior", lambda seed: nullcontext()):
        unseeded = check_policy(agent, replay, windows=4, seq_len=16, seed=0)
    assert unseeded.mean_probs != first.mean_probs


def test_each_dimension_of_a_multidiscrete_action_is_reported_on_its_own():
    replay = random_policy_replay("tests.custom_env:TwoKnobCartPole-v0", steps=50, num_envs=1)
    agent = Agent(4, ActionCodec(MultiDiscrete([2, 3])), small_config())
    head = agent.actor_critic.actor[-1]
    with torch.no_grad():  # the second knob prefers its last action everywhere
        head.weight.zero_()
        head.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 0.0, 2.0]))
    result = check_policy(agent, replay, windows=4, seq_len=16)
    assert [len(p) for p in result.mean_probs] == [2, 3]
    assert result.mean_probs[0] == pytest.approx([0.5, 0.5])
    assert result.greedy_shares == [[1.0, 0.0], [0.0, 0.0, 1.0]]  # ties: the first action
    assert result.tied_shares == [1.0, 0.0]  # and the first knob's are reported as ties
    assert "segment 0, ties: 100.0% of states" in "\n".join(result.lines())
    assert result.max_entropy == pytest.approx(math.log(2) + math.log(3))
    assert result.lines()[1].startswith("  segment 0, action 0:")
