"""Each quantizer's straight-through estimator gives the documented forward value and
surrogate gradient, checked against its published formula."""


import numpy as np
import pytest
import torch

from agent.quantizers import build
from agent.quantizers.binary import BinaryOptions
from agent.quantizers.categorical import CategoricalOptions
from agent.quantizers.fsq import FSQOptions
from agent.quantizers.gumbel import GumbelOptions
from agent.quantizers.lfq import LFQOptions
from agent.quantizers.none import NoneOptions
from agent.quantizers.round import RoundOptions
from agent.quantizers.vq import VQOptions

EMBED = 12


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
    torch.testing.assert_close(q.indices_to_code(out.indices), out.code.detach(), rtol=0, atol=1e-6)
    # Every grid point has its own index.
    all_idx = torch.arange(q.classes)
    codes = q.indices_to_code(all_idx.repeat(2, 1).T)
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

def fsq_by_formula(z: np.ndarray, levels: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Mentzer et al.'s bound-and-round, written out per dim: codes and mixed-radix index."""
    codes, index, radix = np.zeros_like(z), np.zeros(z.shape[:-1], np.int64), 1
    for i, L in enumerate(levels):
        half_l = (L - 1) * (1 + 1e-3) / 2
        offset = 0.5 if L % 2 == 0 else 0.0
        shift = np.arctanh(offset / half_l)
        rounded = np.round(np.tanh(z[..., i] + shift) * half_l - offset)
        codes[..., i] = rounded / (L // 2)
        index += (rounded + L // 2).astype(np.int64) * radix
        radix *= L
    return codes, index


@pytest.mark.parametrize("levels", [[8, 5, 5, 5], [7, 5, 5, 5, 5]])
def test_fsq_matches_the_published_formula(levels):
    q = build(FSQOptions(levels=levels, groups=3), EMBED)
    q.proj = torch.nn.Identity()
    z = torch.randn(500, 3 * len(levels), dtype=torch.float64) * 2
    out = q(z.float())
    codes, index = fsq_by_formula(z.unflatten(-1, (3, len(levels))).numpy(), levels)
    np.testing.assert_allclose(out.code.detach().unflatten(-1, (3, len(levels))).numpy(),
                               codes, atol=1e-6)
    np.testing.assert_array_equal(out.indices.numpy(), index)

def test_vq_ema_step_moves_rows_to_the_expected_values():
    q = build(VQOptions(heads=1, codebook_size=2, dim=1, decay=0.5, restart_below=0.0), EMBED)
    q.proj = torch.nn.Identity()
    q.codebook.copy_(torch.tensor([[[0.0], [10.0]]]))
    q.ema_count.fill_(1.0)
    q.ema_sum.copy_(q.codebook)
    q.train()(torch.tensor([[1.0], [2.0], [9.0]]))
    # counts 0.5 * [1, 1] + 0.5 * [2, 1] = [1.5, 1]; sums 0.5 * [0, 10] + 0.5 * [3, 9]
    torch.testing.assert_close(q.ema_count, torch.tensor([[1.5, 1.0]]))
    torch.testing.assert_close(q.codebook[0, :, 0], torch.tensor([1.5 / 1.5, 9.5 / 1.0]),
                               atol=1e-4, rtol=0)

def test_vq_code_that_is_never_hit_is_restarted_from_the_batch():
    q = build(VQOptions(heads=1, codebook_size=3, dim=1, decay=0.5, restart_below=1.0), EMBED)
    q.proj = torch.nn.Identity()
    q.codebook.copy_(torch.tensor([[[0.0], [10.0], [100.0]]]))
    q.ema_count.fill_(1.0)
    q.ema_sum.copy_(q.codebook)
    batch = torch.tensor([[0.1], [0.2], [0.3], [0.4]])
    out = q.train()(batch)
    assert torch.equal(out.indices[:, 0], torch.zeros(4, dtype=torch.long))
    assert torch.isin(q.codebook[0, 1:, 0], batch[:, 0]).all()  # both unused codes restarted
    assert out.stats["restarted_codes"] == 2

def test_vq_rotation_trick_gradient():
    q = build(VQOptions(heads=1, codebook_size=8, dim=3, ema=False, estimator="rotation"), EMBED)
    q.proj = torch.nn.Identity()
    z = torch.randn(6, 3, requires_grad=True)
    out = q(z)
    g = torch.randn_like(out.code)
    (out.code * g).sum().backward()
    cb = q.codebook.detach()[0]
    for n in range(6):
        zn, qn = z[n].detach(), cb[out.indices[n, 0]]
        u, v = zn / zn.norm(), qn / qn.norm()
        w = (u + v) / (u + v).norm()
        rotation = torch.eye(3) - 2 * torch.outer(w, w) + 2 * torch.outer(v, u)
        torch.testing.assert_close(rotation @ u, v, atol=1e-5, rtol=0)
        expected = qn.norm() / zn.norm() * rotation.T @ g[n]
        torch.testing.assert_close(z.grad[n], expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out.code.detach(), cb[out.indices[:, 0]])

def test_gumbel_backward_is_the_soft_sample_gradient():
    q = build(GumbelOptions(groups=2, classes=4, temp_start=0.7, temp_end=0.5), EMBED)
    q.proj = torch.nn.Identity()
    logits = torch.randn(10, 8, requires_grad=True)
    torch.manual_seed(3)
    out = q.eval()(logits)
    g = torch.randn_like(out.code)
    (out.code * g).sum().backward()
    torch.manual_seed(3)  # the same Gumbel noise
    ref = logits.detach().clone().requires_grad_(True)
    noise = -torch.log(-torch.log(torch.rand(10, 2, 4).clamp(1e-20, 1.0)))
    soft = torch.softmax((ref.unflatten(-1, (2, 4)) + noise) / 0.7, -1)
    (soft.flatten(-2) * g).sum().backward()
    torch.testing.assert_close(logits.grad, ref.grad)
    hard = out.code.detach().unflatten(-1, (2, 4))
    assert torch.equal(hard.argmax(-1), soft.argmax(-1)) and torch.equal(hard.sum(-1),
                                                                         torch.ones(10, 2))

def test_gumbel_temperature_anneals_to_its_floor():
    q = build(GumbelOptions(temp_start=1.0, temp_end=0.5, temp_decay=0.1), EMBED).train()
    temps = [q(torch.randn(2, EMBED)).stats["temperature"].item() for _ in range(20)]
    assert temps[0] == 1.0 and temps[1] == pytest.approx(np.exp(-0.1))
    assert temps[-1] == 0.5 and all(a >= b for a, b in zip(temps, temps[1:], strict=False))

@pytest.mark.parametrize("name, options", [
    ("round", RoundOptions(dims=6, levels=5)),
    ("binary", BinaryOptions(bits=6, gate=True)),
    ("lfq", LFQOptions(groups=2, bits=3)),
])
def test_grid_quantizers_forward_on_grid_and_backward_identity_inside_bounds(name, options):
    q = build(options, EMBED)
    q.proj = torch.nn.Identity()
    z = (torch.rand(40, 6) * 1.8 - 0.9).requires_grad_(True)  # inside [-1, 1]
    out = q(z)
    grid = {"round": torch.linspace(-1, 1, 5), "binary": torch.tensor([-1.0, 1.0]),
            "lfq": torch.tensor([-1.0, 1.0])}[name]
    assert torch.isin(out.code.detach(), grid).all()
    g = torch.randn_like(out.code)
    (out.code * g).sum().backward()
    torch.testing.assert_close(z.grad, g)

def test_binary_gate_blocks_gradient_outside_unit_interval():
    q = build(BinaryOptions(bits=4, gate=True), EMBED)
    q.proj = torch.nn.Identity()
    z = torch.tensor([[0.5, -0.5, 3.0, -3.0]], requires_grad=True)
    q(z).code.sum().backward()
    torch.testing.assert_close(z.grad, torch.tensor([[1.0, 1.0, 0.0, 0.0]]))

def test_lfq_entropy_penalty_matches_explicit_enumeration():
    opts = LFQOptions(groups=1, bits=3, entropy_weight=1.0, temperature=0.5)
    q = build(opts, EMBED).train()
    q.proj = torch.nn.Identity()
    z = torch.randn(32, 3)
    codes = torch.tensor([[(c >> i) & 1 for i in range(3)] for c in range(8)]).float() * 2 - 1
    probs = torch.softmax(-torch.cdist(z, codes).pow(2) / 0.5, -1)  # [N, K]
    per_sample = -(probs * probs.log()).sum(-1).mean()
    mean = probs.mean(0)
    expected = per_sample + (mean * mean.log()).sum()
    torch.testing.assert_close(q(z).losses["entropy"], expected, atol=1e-5, rtol=1e-4)
    out = q(z)
    torch.testing.assert_close(q.indices_to_code(out.indices), out.code.detach())

def test_none_passes_the_continuous_code_with_exact_gradient():
    q = build(NoneOptions(dims=4, bound=True), EMBED)
    q.proj = torch.nn.Identity()
    z = torch.randn(5, 4, requires_grad=True)
    out = q(z)
    torch.testing.assert_close(out.code, torch.tanh(z))
    out.code.sum().backward()
    torch.testing.assert_close(z.grad, 1 - torch.tanh(z.detach()) ** 2)
    assert q.bits == 0 and q.prior == "mse"


@pytest.mark.parametrize("levels", [[5, 5, 5], [4, 3]])
def test_fsq_rep_temperature_leaves_the_forward_pass_as_it_was(levels):
    torch.manual_seed(0)
    plain = build(FSQOptions(levels=levels, groups=2), EMBED)
    soft = build(FSQOptions(levels=levels, groups=2, rep_temperature=0.5), EMBED)
    soft.load_state_dict(plain.state_dict())
    e = torch.randn(256, EMBED) * 2
    a, b = plain(e), soft(e)
    assert torch.equal(a.code, b.code) and torch.equal(a.indices, b.indices)
    assert torch.equal(a.probs, b.probs)  # one-hot, at the index
    assert a.probs.grad_fn is None and b.probs.grad_fn is not None


def test_fsq_soft_assignment_is_a_product_over_dims_of_softmaxes_over_levels():
    q = build(FSQOptions(levels=[4, 3], groups=1, rep_temperature=0.7), EMBED)
    bounded = torch.tensor([[[0.3, -0.8]]])  # one group; dim 0 grid -2..1, dim 1 grid -1..1
    probs = q.soft_assignment(bounded)[0, 0]  # [K = 12]
    dim0 = torch.softmax(-(0.3 - torch.tensor([-2.0, -1, 0, 1])) ** 2 / 0.7, 0)
    dim1 = torch.softmax(-(-0.8 - torch.tensor([-1.0, 0, 1])) ** 2 / 0.7, 0)
    expected = (dim1[:, None] * dim0[None, :]).flatten()  # class = digit0 + 4 * digit1
    torch.testing.assert_close(probs, expected)
    assert probs.argmax().item() == 2 + 4 * 0  # rounds to (0, -1): digits (2, 0)


def test_fsq_rep_gradient_is_that_of_the_prior_cross_entropy_of_the_soft_assignment():
    """rep = -sum_k probs_k log q_k: forward -log q at the code; backward through the soft
    assignment, so the encoder moves toward the codes the prior finds likely."""
    q = build(FSQOptions(levels=[5], groups=1, rep_temperature=0.5), EMBED)
    q.proj = torch.nn.Identity()
    log_q = torch.log_softmax(torch.tensor([[0.0, 0.0, 0.0, 3.0, 0.0]]), -1)  # level +1
    z = torch.tensor([[0.2]], requires_grad=True)  # rounds to level 0
    out = q(z)
    rep = -(out.probs * log_q).sum()
    assert rep.item() == pytest.approx(-log_q[0, 2].item())
    (grad,) = torch.autograd.grad(rep, z)

    def surrogate(zz: torch.Tensor) -> torch.Tensor:
        return -(q.soft_assignment(q.bound(zz).unsqueeze(-1))[0, 0] * log_q[0]).sum()

    eps = 1e-3
    numeric = (surrogate(torch.tensor([[0.2 + eps]])) -
               surrogate(torch.tensor([[0.2 - eps]]))) / (2 * eps)
    assert grad.item() == pytest.approx(numeric.item(), rel=1e-3)
    assert grad.item() < 0  # a larger z, toward the predicted level, lowers the loss


def test_fsq_rep_temperature_must_not_be_negative():
    with pytest.raises(Exception, match="rep_temperature must be >= 0"):
        build(FSQOptions(rep_temperature=-1.0), EMBED)


def test_fsq_rep_gradient_is_finite_through_mixed_level_counts():
    """Dims with fewer levels than others are padded and masked out of the softmax."""
    q = build(FSQOptions(levels=[8, 5, 3], groups=2, rep_temperature=0.5), EMBED)
    e = (torch.randn(64, EMBED) * 3).requires_grad_(True)
    out = q(e)
    log_q = torch.log_softmax(torch.randn(64, 2, q.classes), -1)
    (grad,) = torch.autograd.grad(-(out.probs * log_q).sum(), e)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
