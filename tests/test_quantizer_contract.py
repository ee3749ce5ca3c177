"""Every registered quantizer keeps the contract (shapes, indices, declared attributes,
statistics, errors), and the README's example quantizer is the one these tests run."""

from pathlib import Path

import pytest
import torch

from agent.errors import ConfigError
from agent.quantizers import available, build
from agent.quantizers.categorical import CategoricalOptions
from agent.quantizers.fsq import FSQOptions
from agent.quantizers.gumbel import GumbelOptions
from agent.quantizers.lfq import LFQOptions
from agent.quantizers.none import NoneOptions
from agent.quantizers.vq import VQOptions

ROOT = Path(__file__).resolve().parents[1]

EMBED = 12


@pytest.mark.parametrize("name", available())
def test_contract_shapes(name):
    q = build({"name": name}, EMBED).train()
    e = torch.randn(3, 5, EMBED)
    out = q(e)
    G, K = q.groups, q.classes
    assert out.code.shape == (3, 5, q.code_dim)
    assert out.indices.shape == (3, 5, G) and out.indices.dtype == torch.long
    assert out.indices.min() >= 0 and out.indices.max() < K
    assert out.probs.shape == (3, 5, G, K)
    torch.testing.assert_close(out.probs.sum(-1), torch.ones(3, 5, G))
    for value in [*out.losses.values(), *out.stats.values()]:
        assert value.dim() == 0 and torch.isfinite(value)
    assert {"perplexity", "perplexity_frac", "used_bits", "utilisation", "dead_codes"} <= set(
        out.stats)

@pytest.mark.parametrize("name", available())
def test_indices_to_code_equals_code(name):
    # In eval mode the quantizer's state (e.g. a VQ codebook) does not move during the call.
    q = build({"name": name}, EMBED).eval()
    out = q(torch.randn(7, EMBED) * 2)
    if q.prior != "discrete":  # no codebook: imagination samples the code from a continuous prior
        with pytest.raises(NotImplementedError):
            q.indices_to_code(out.indices)
        return
    torch.testing.assert_close(q.indices_to_code(out.indices), out.code.detach(), rtol=0, atol=1e-6)

@pytest.mark.parametrize("name", available())
def test_declared_contract_attributes_hold(name):
    q = build({"name": name}, EMBED).train()
    code = q(torch.randn(64, EMBED) * 10).code
    assert q.prior in ("discrete", "mse", "gaussian")
    if q.bounded:
        assert code.abs().max() <= 1 + 1e-6
    # A continuous code has no codebook, and a discrete one always has.
    assert q.has_codebook == (q.prior == "discrete")

@pytest.mark.parametrize("name", available())
def test_stats_only_in_training_mode(name):
    q = build({"name": name}, EMBED).eval()
    assert q(torch.randn(4, EMBED)).stats == {}

def test_unknown_quantizer_is_refused_with_the_available_names():
    with pytest.raises(KeyError, match="available: .*fsq"):
        build({"name": "nope"}, EMBED)

def test_perplexity_is_k_for_a_uniform_batch_and_one_for_a_constant_batch():
    q = build(CategoricalOptions(groups=2, classes=4), EMBED)
    uniform = torch.arange(4).repeat(8).unsqueeze(-1).repeat(1, 2)  # every class equally
    stats = q.codebook_stats(uniform)
    assert stats["perplexity"].item() == pytest.approx(4.0)
    assert stats["perplexity_frac"].item() == pytest.approx(1.0)
    assert stats["used_bits"].item() == pytest.approx(2 * 2.0)
    constant = torch.zeros(32, 2, dtype=torch.long)
    stats = q.codebook_stats(constant)
    assert stats["perplexity"].item() == pytest.approx(1.0)
    assert stats["used_bits"].item() == pytest.approx(0.0)
    # Utilisation is over the window: both batches together hit every code.
    assert stats["utilisation"].item() == 1.0 and stats["dead_codes"].item() == 0

@pytest.mark.parametrize("options, message", [
    (FSQOptions(levels=[1, 5]), "levels"),
    (VQOptions(codebook_size=0), "codebook_size"),
    (VQOptions(estimator="magic"), "estimator"),
    (LFQOptions(bits=0), "bits"),
    (NoneOptions(prior="laplace"), "prior"),
    (GumbelOptions(temp_end=2.0), "temp"),
])
def test_bad_options_are_refused_with_the_key(options, message):
    with pytest.raises(ConfigError, match=message):
        build(options, EMBED)

def test_readme_shows_the_example_quantizer_that_the_contract_tests_run():
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / "tests" / "example_quantizer.py").read_text()
    assert example.strip() in readme
    assert "ternary" in available()

def test_ternary_forward_is_on_grid_and_backward_is_the_tanh_gradient():
    # The README's test template, run on the README's example quantizer.
    from tests.example_quantizer import TernaryOptions

    q = build(TernaryOptions(dims=6), embed_dim=12)
    q.proj = torch.nn.Identity()                  # test the quantizer, not the projection
    z = torch.randn(40, 6, requires_grad=True)
    out = q(z)
    assert torch.isin(out.code.detach(), torch.tensor([-1.0, 0.0, 1.0])).all()
    out.code.sum().backward()
    torch.testing.assert_close(z.grad, 1 - torch.tanh(z.detach()) ** 2)
