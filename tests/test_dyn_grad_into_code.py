"""The dynamics loss's gradient into the codes fed to the sequence model
(model.dyn_grad_into_code): cut or scaled there only, the losses and every other path as
they were."""

import pytest
import torch

from agent.agent import Agent
from agent.analysis.loss_grads import PARTS, part_of, term_gradients
from agent.errors import ConfigError
from agent.validation import validate
from tests.conftest import small_config
from tests.helpers import cartpole_replay

CODE_PARTS = ("encoder", "quantizer")


@pytest.fixture(scope="module")
def batch():
    torch.manual_seed(0)
    return cartpole_replay(300).sample(4, 16)


def gradients(name: str, share: float, batch, overshoot: int = 0):
    """Each term's gradient for an agent with the given share; every agent starts from
    the same weights."""
    cfg = small_config(name)
    cfg.model.dyn_grad_into_code, cfg.model.overshoot = share, overshoot
    torch.manual_seed(0)
    return term_gradients(Agent(4, 2, cfg), batch, seed=1)


def on(grads: dict, parts) -> dict:
    return {n: g for n, g in grads.items() if part_of(n) in parts}


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for n in a:
        torch.testing.assert_close(a[n], b[n], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["fsq", "categorical"])
def test_at_zero_the_dynamics_loss_reaches_no_code_and_trains_the_rest_in_full(name, batch):
    values_cut, cut = gradients(name, 0.0, batch, overshoot=2)
    values_full, full = gradients(name, 1.0, batch, overshoot=2)
    assert values_cut == values_full  # the forward pass is the same
    assert all(g.abs().sum() == 0 for g in on(cut["dyn"], CODE_PARTS).values())
    assert any(g.abs().sum() > 0 for g in on(full["dyn"], CODE_PARTS).values())
    others = set(PARTS) - set(CODE_PARTS)
    assert_same(on(cut["dyn"], others), on(full["dyn"], others))
    for term in set(cut) - {"dyn", "sum"}:  # every other term, on every part
        assert_same(cut[term], full[term])


def test_a_share_between_scales_the_codes_gradient_linearly(batch):
    _, half = gradients("fsq", 0.5, batch)
    _, full = gradients("fsq", 1.0, batch)
    assert any(g.abs().sum() > 0 for g in on(full["dyn"], CODE_PARTS).values())
    for n, g in on(full["dyn"], CODE_PARTS).items():
        torch.testing.assert_close(half["dyn"][n], 0.5 * g, rtol=1e-4, atol=1e-7)
    assert_same(on(half["dyn"], {"sequence", "prior"}), on(full["dyn"], {"sequence", "prior"}))


def test_at_the_default_share_the_prior_reads_the_observed_h_itself(batch):
    cfg = small_config("fsq")
    assert cfg.model.dyn_grad_into_code == 1
    wm = Agent(4, 2, cfg).world_model
    states = wm.observe(batch.obs, batch.action, batch.is_first)
    assert wm.prior_input(states, batch.action, batch.is_first) is states.h  # no second unroll


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_a_share_outside_zero_to_one_is_refused_before_building(share):
    cfg = small_config("fsq")
    cfg.model.dyn_grad_into_code = share
    with pytest.raises(ConfigError, match=r"model.dyn_grad_into_code.*in \[0, 1\]"):
        validate(cfg)
