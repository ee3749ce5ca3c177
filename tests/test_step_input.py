"""How the sequence model reads the previous code and action (model.step_input): `joint`
(one block over both) or `separate` (a block for each, DreamerV3's)."""

import pytest
import torch
from torch.nn import functional as F

from agent.agent import Agent
from agent.errors import ConfigError
from agent.validation import validate
from tests.conftest import small_config
from tests.helpers import cartpole_replay


def world_model(step_input: str, act_dim: int = 2):
    cfg = small_config("categorical")
    cfg.model.step_input = step_input
    torch.manual_seed(0)
    return Agent(4, act_dim, cfg).world_model


def test_joint_keeps_the_parameters_that_saved_runs_hold():
    """The default's names and shapes are those of checkpoints written before the option."""
    wm = world_model("joint")
    names = {n: tuple(p.shape) for n, p in wm.named_parameters()
             if n.startswith(("step_input", "action_input"))}
    assert names == {"step_input.0.weight": (32, wm.code_dim + 2),
                     "step_input.1.weight": (32,), "step_input.1.bias": (32,)}
    assert wm.gru.input_size == 32


def test_separate_gives_the_action_a_normalised_block_as_wide_as_the_codes():
    wm = world_model("separate")
    code = F.one_hot(torch.randint(0, 16, (8, 16)), 16).float().flatten(1)  # 16 groups x 16
    action = F.one_hot(torch.randint(0, 2, (8,)), 2).float()
    assert wm.gru.input_size == 64
    with torch.no_grad():
        got = wm.sequence_input(code, action)

        def block(layers, x):  # Linear (no bias) -> LayerNorm -> SiLU, by hand
            linear, norm, _ = layers
            y = x @ linear.weight.T
            y = (y - y.mean(-1, keepdim=True)) / torch.sqrt(y.var(-1, unbiased=False,
                                                                 keepdim=True) + norm.eps)
            return F.silu(y * norm.weight + norm.bias)

        want = torch.cat([block(wm.step_input, code), block(wm.action_input, action)], -1)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_separate_lets_the_action_move_the_input_as_much_as_the_code_does():
    """At the start, swapping the action changes the GRU's input by a fraction of what
    swapping the code does when both share one block (the action is 2 of 258 inputs), and
    by as much when each has its own."""
    code = F.one_hot(torch.randint(0, 16, (256, 16), generator=torch.Generator().manual_seed(1)),
                     16).float().flatten(1)
    other_code = code.roll(1, 0)
    left, right = torch.tensor([1.0, 0.0]).expand(256, 2), torch.tensor([0.0, 1.0]).expand(256, 2)
    ratios = {}
    for mode in ("joint", "separate"):
        wm = world_model(mode)
        with torch.no_grad():
            base = wm.sequence_input(code, left)
            by_action = (base - wm.sequence_input(code, right)).norm(dim=-1).mean()
            by_code = (base - wm.sequence_input(other_code, left)).norm(dim=-1).mean()
        ratios[mode] = (by_action / by_code).item()
    assert ratios["joint"] < 0.5
    assert ratios["separate"] > 0.8
    assert ratios["separate"] > 2 * ratios["joint"]


def test_separate_trains_the_action_block_from_the_world_model_loss():
    cfg = small_config("categorical")
    cfg.model.step_input = "separate"
    torch.manual_seed(0)
    agent = Agent(4, 2, cfg)
    before = {n: p.clone() for n, p in agent.world_model.action_input.named_parameters()}
    replay = cartpole_replay(300)
    for _ in range(3):
        agent.train_step(replay.sample(4, 16))
    moved = [n for n, p in agent.world_model.action_input.named_parameters()
             if not torch.equal(p, before[n])]
    assert moved == list(before)


def test_an_unknown_step_input_is_refused_before_building():
    cfg = small_config()
    cfg.model.step_input = "both"
    with pytest.raises(ConfigError, match="model.step_input='both'.*joint or separate"):
        validate(cfg)
