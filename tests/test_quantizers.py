"""Every registered quantizer keeps the contract; each one's straight-through estimator gives
the documented forward value and surrogate gradient."""

import pytest
import torch

from agent.quantizers import available, build
from agent.quantizers.categorical import CategoricalOptions
from agent.quantizers.fsq import FSQOptions
from agent.quantizers.vq import VQOptions

EMBED = 12


@pytest.mark.parametrize("name", available())
def test_contract_shapes_and_embed(name):
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
def test_embed_of_indices_equals_code(name):
    # In eval mode the quantizer's state (e.g. a VQ codebook) does not move during the call.
    q = build({"name": name}, EMBED).eval()
    out = q(torch.randn(7, EMBED) * 2)
    torch.testing.assert_close(q.embed(out.indices), out.code.detach(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", available())
def test_stats_only_in_training_mode(name):
    q = build({"name": name}, EMBED).eval()
    assert q(torch.randn(4, EMBED)).stats == {}


@pytest.mark.parametrize("levels", [[5, 5, 5], [8, 5, 5, 5], [2, 3], [4]])
def test_fsq_forward_is_on_grid_and_indices_are_unique(levels):
    q = build(FSQOptions(levels=levels, groups=2), EMBED)
    out = q(torch.randn(4096, EMBED) * 3)
    d = len(levels)
    values = out.code.detach().unflatten(-1, (2, d))
    for i, L in enumerate(levels):
        half = L // 2
        grid = (torch.arange(L) - half) / half
        assert torch.isin(values[..., i], grid).all()
    # Every grid point maps to its own index, and embed inverts it.
    all_idx = torch.arange(q.classes)
    codes = q.embed(all_idx.repeat(2, 1).T)
    assert torch.unique(codes, dim=0).shape[0] == q.classes


def test_fsq_backward_is_the_derivative_of_the_bound():
    q = build(FSQOptions(levels=[8, 5], groups=1), EMBED)
    z = torch.randn(64, 2, requires_grad=True)
    q.proj = torch.nn.Identity()
    out = q(z)
    upstream = torch.randn_like(out.code)
    (out.code * upstream).sum().backward()
    # d/dz [tanh(z + shift) * half_l - offset] / half_width
    expected = (1 - torch.tanh(z.detach() + q.shift) ** 2) * q.half_l / q.half_width * upstream
    torch.testing.assert_close(z.grad, expected)


def test_vq_forward_is_nearest_codebook_vector_and_backward_is_identity():
    q = build(VQOptions(heads=2, codebook_size=16, dim=3, ema=False), EMBED)
    q.proj = torch.nn.Identity()
    z = torch.randn(50, 6, requires_grad=True)
    out = q(z)
    zz = z.detach().unflatten(-1, (2, 3))
    for g in range(2):
        dist = torch.cdist(zz[:, g], q.codebook[g].detach())
        assert torch.equal(out.indices[:, g], dist.argmin(-1))
        torch.testing.assert_close(out.code.detach().unflatten(-1, (2, 3))[:, g],
                                   q.codebook[g].detach()[dist.argmin(-1)])
    upstream = torch.randn_like(out.code)
    (out.code * upstream).sum().backward()
    torch.testing.assert_close(z.grad, upstream)


def test_vq_commitment_loss_value_and_gradient():
    opts = VQOptions(heads=1, codebook_size=4, dim=2, beta=0.25, ema=False)
    q = build(opts, EMBED)
    q.proj = torch.nn.Identity()
    z = torch.randn(10, 2, requires_grad=True)
    out = q(z)
    nearest = q.codebook[0].detach()[out.indices[:, 0]]
    expected = 0.25 * (z.detach() - nearest).pow(2).sum(-1).mean()
    torch.testing.assert_close(out.losses["commit"], expected)
    out.losses["commit"].backward()
    torch.testing.assert_close(z.grad, 0.25 * 2 * (z.detach() - nearest) / 10)


def test_vq_ema_moves_codes_toward_assigned_vectors_and_restarts_dead_ones():
    q = build(VQOptions(heads=1, codebook_size=8, dim=2, decay=0.5), EMBED).train()
    q.proj = torch.nn.Identity()
    target = torch.tensor([[3.0, -3.0]])
    for _ in range(30):
        q(target.repeat(32, 1))
    # The used code converges to the only vector it sees; unused codes were restarted
    # from the batch, so every code now sits on that vector.
    torch.testing.assert_close(q.codebook[0], target.repeat(8, 1), atol=1e-3, rtol=0)


def test_categorical_forward_is_one_hot_and_backward_is_probs_gradient():
    q = build(CategoricalOptions(groups=3, classes=5, unimix=0.01), EMBED)
    q.proj = torch.nn.Identity()
    logits = torch.randn(20, 15, requires_grad=True)
    out = q(logits)
    code = out.code.unflatten(-1, (3, 5))
    assert torch.equal(code.detach().sum(-1), torch.ones(20, 3))
    assert ((code.detach() == 0) | (code.detach() == 1)).all()
    upstream = torch.randn_like(out.code)
    (out.code * upstream).sum().backward()
    # Surrogate: the gradient of the unimix probabilities.
    ref = logits.detach().clone().requires_grad_(True)
    probs = 0.99 * torch.softmax(ref.unflatten(-1, (3, 5)), -1) + 0.01 / 5
    (probs.flatten(-2) * upstream).sum().backward()
    torch.testing.assert_close(logits.grad, ref.grad)


def test_unknown_quantizer_is_refused_with_the_available_names():
    with pytest.raises(KeyError, match="available: .*fsq"):
        build({"name": "nope"}, EMBED)
