"""The code probe (agent/analysis/code_probe.py) counts the bits of the code over replayed
steps: some for varied CartPole states, none when every observation is the same."""

import pytest
import torch

from agent.agent import Agent
from agent.analysis.code_probe import code_information, entropy_bits
from tests.conftest import small_config
from tests.helpers import cartpole_replay


def test_entropy_is_summed_over_groups_in_bits():
    uniform_over_4 = torch.tensor([0, 1, 2, 3] * 5)
    constant = torch.zeros(20, dtype=torch.long)
    halves = torch.tensor([0] * 10 + [7] * 10)
    indices = torch.stack([uniform_over_4, constant, halves], -1)  # [N, G]
    assert entropy_bits(indices) == pytest.approx(2.0 + 0.0 + 1.0)


@pytest.mark.parametrize("quantizer", ["fsq", "categorical"])
def test_varied_states_give_a_code_with_bits_and_a_constant_observation_none(quantizer):
    torch.manual_seed(0)
    agent = Agent(4, 2, small_config(quantizer))
    replay = cartpole_replay(300)
    varied = code_information(agent, replay)
    assert 1.0 < varied.bits <= varied.capacity, varied
    assert varied.capacity == pytest.approx(agent.world_model.quantizer.bits)
    assert varied.spread > 0.01, varied

    replay.obs["obs"][:] = replay.obs["obs"][0, 0]  # every stored step the same state
    constant = code_information(agent, replay)
    assert constant.bits == 0.0 and constant.spread == pytest.approx(0.0, abs=1e-6)


def test_a_continuous_code_reports_its_spread_only():
    torch.manual_seed(0)
    agent = Agent(4, 2, small_config("none"))
    info = code_information(agent, cartpole_replay(300))
    assert info.bits is None and info.capacity is None and info.spread > 0.01
    assert "continuous code" in info.line()
