"""A code sampled from a discrete prior passes the straight-through gradient of its expected
value when the prior's output carries a gradient (imagination for `ac.actor_grad=dynamics`),
and is the plain sampled code otherwise."""

import pytest
import torch

from agent.model.priors import DiscretePrior
from agent.quantizers import available, build

EMBED = 12
DISCRETE = [name for name in available() if build({"name": name}, EMBED).prior == "discrete"]


def prior_of(name: str) -> DiscretePrior:
    return DiscretePrior(build({"name": name}, EMBED).eval(), unimix=0.0)


@pytest.mark.parametrize("name", DISCRETE)
def test_the_expected_code_of_a_certain_class_is_that_class_code(name):
    """Each group's table of parts is read right: one-hot probabilities give back the code
    of those indices, for every quantizer with a discrete prior."""
    prior = prior_of(name)
    q = prior.quantizer
    indices = torch.randint(q.classes, (9, q.groups))
    probs = torch.nn.functional.one_hot(indices, q.classes).float()
    torch.testing.assert_close(prior.expected_code(probs), q.indices_to_code(indices))


def test_the_expected_code_is_the_probability_weighted_code():
    """fsq by hand: one group of one dimension with 3 levels (codes -1, 0, 1)."""
    q = build({"name": "fsq", "levels": [3], "groups": 1}, EMBED)
    prior = DiscretePrior(q, unimix=0.0)
    probs = torch.tensor([[[0.2, 0.3, 0.5]]])
    torch.testing.assert_close(prior.expected_code(probs), torch.tensor([[0.3]]))


@pytest.mark.parametrize("name", DISCRETE)
def test_a_sample_with_a_gradient_keeps_its_value_and_passes_the_expected_codes(name):
    prior = prior_of(name)
    q = prior.quantizer
    params = torch.randn(6, q.groups * q.classes, requires_grad=True)
    weights = torch.randn(6, q.code_dim)
    torch.manual_seed(0)
    code = prior.sample(params)
    torch.manual_seed(0)
    plain = prior.sample(params.detach())
    assert not plain.requires_grad
    torch.testing.assert_close(code.detach(), plain, rtol=0, atol=0)  # the value is exact
    (grad,) = torch.autograd.grad((weights * code).sum(), params)
    expected = prior.expected_code(prior.logprobs(params).exp())
    (want,) = torch.autograd.grad((weights * expected).sum(), params)
    torch.testing.assert_close(grad, want)
    assert grad.abs().sum() > 0
