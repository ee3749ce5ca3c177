"""λ-returns against their definition, the return normaliser, and two-hot encoding."""

import pytest
import torch

from agent.behavior.returns import ReturnNormalizer, lambda_return, replay_lambda_return
from agent.distributions import TwoHot, symexp, symlog


def n_step_return(reward, cont, value, gamma, k, n):
    """G^n_k = sum_{i=1..n} (prod_{j<i} γ c_{k+j}) r_{k+i} + (prod_{j<=n} γ c_{k+j}) v_{k+n},
    with reward[i - 1], cont[i - 1] belonging to step i."""
    total, discount = 0.0, 1.0
    for i in range(1, n + 1):
        total += discount * reward[k + i - 1]
        discount *= gamma * cont[k + i - 1]
    return total + discount * value[k + n]


def lambda_return_by_definition(reward, cont, value, gamma, lam):
    """R^λ_k = (1-λ) Σ_{n=1}^{H-k-1} λ^{n-1} G^n_k + λ^{H-k-1} G^{H-k}_k."""
    horizon = len(reward)
    out = []
    for k in range(horizon):
        last = horizon - k
        mixed = sum((1 - lam) * lam ** (n - 1) * n_step_return(reward, cont, value, gamma, k, n)
                    for n in range(1, last))
        out.append(mixed + lam ** (last - 1) * n_step_return(reward, cont, value, gamma, k, last))
    return torch.tensor(out)


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.95, 1.0])
def test_lambda_return_matches_the_weighted_n_step_definition(lam):
    g = torch.Generator().manual_seed(1)
    horizon = 7
    reward = torch.randn(horizon, 1, generator=g, dtype=torch.float64)
    cont = (torch.rand(horizon, 1, generator=g) > 0.2).double()
    value = torch.randn(horizon + 1, 1, generator=g, dtype=torch.float64)
    got = lambda_return(reward, cont, value, gamma=0.9, lam=lam)[:, 0]
    want = lambda_return_by_definition(reward[:, 0], cont[:, 0], value[:, 0], 0.9, lam)
    torch.testing.assert_close(got, want)


def test_lambda_return_edge_cases():
    reward = torch.ones(3, 1)
    value = torch.full((4, 1), 10.0)
    # λ = 0 is one-step TD; a terminal step cuts the bootstrap.
    cont = torch.tensor([[1.0], [0.0], [1.0]])
    got = lambda_return(reward, cont, value, gamma=0.5, lam=0.0)
    torch.testing.assert_close(got, torch.tensor([[1 + 0.5 * 10], [1.0], [1 + 0.5 * 10]]))


def test_replay_returns_stop_at_episode_boundaries_and_bootstrap_the_window_end():
    """One replayed window, time-major: obs 0-2 end an episode (obs 2 terminal), obs 3-4
    start the next. Rewards r_t arrive with obs t."""
    gamma, lam = 0.5, 0.5
    reward = torch.tensor([[9.0], [1.0], [2.0], [9.0], [4.0]])
    cont = torch.tensor([[1.0], [1.0], [0.0], [1.0], [1.0]])
    is_first = torch.tensor([[0.0], [0.0], [0.0], [1.0], [0.0]])
    value = torch.tensor([[5.0], [6.0], [7.0], [8.0], [10.0]])
    returns, weight = replay_lambda_return(reward, cont, is_first, value, gamma, lam)
    # obs 1: r_2 and nothing after (obs 2 is terminal).
    r1 = 2.0
    # obs 0: r_1 + γ ((1 - λ) v_1 + λ R_1).
    r0 = 1.0 + gamma * ((1 - lam) * 6.0 + lam * r1)
    # obs 3: r_4 + γ v_4 (the window ends at obs 4).
    r3 = 4.0 + gamma * 10.0
    torch.testing.assert_close(returns[[0, 1, 3], 0], torch.tensor([r0, r1, r3]))
    # obs 2 is terminal and its successor starts another episode: no target.
    torch.testing.assert_close(weight[:, 0], torch.tensor([1.0, 1.0, 0.0, 1.0]))


def test_replay_returns_bootstrap_the_last_obs_of_a_truncated_episode_on_its_value():
    """Obs 1 is the last of an episode cut by a time limit (not terminal): the return of
    obs 0 bootstraps on v_1 as if λ were 0 there, never reaching into the next episode."""
    gamma, lam = 0.5, 0.9
    reward = torch.tensor([[0.0], [1.0], [100.0], [100.0]])
    cont = torch.ones(4, 1)
    is_first = torch.tensor([[0.0], [0.0], [1.0], [0.0]])
    value = torch.tensor([[0.0], [6.0], [50.0], [50.0]])
    returns, weight = replay_lambda_return(reward, cont, is_first, value, gamma, lam)
    torch.testing.assert_close(returns[0, 0], torch.tensor(1.0 + gamma * 6.0))
    torch.testing.assert_close(weight[:, 0], torch.tensor([1.0, 0.0, 1.0]))


def test_return_normalizer_tracks_the_percentile_range_and_never_scales_up():
    norm = ReturnNormalizer(decay=0.0, low=5, high=95)
    returns = torch.linspace(0, 100, 1001)
    norm.update(returns)
    assert norm.scale().item() == pytest.approx(90.0, rel=1e-3)
    norm.update(torch.linspace(0, 0.5, 100))
    assert norm.scale().item() == 1.0


def test_return_normalizer_is_an_ema_of_the_percentiles():
    norm = ReturnNormalizer(decay=0.5, low=0, high=100)
    norm.update(torch.tensor([0.0, 10.0]))  # the first update initialises: range [0, 10]
    norm.update(torch.tensor([-10.0, 30.0]))  # 0.5 * [0, 10] + 0.5 * [-10, 30] = [-5, 20]
    torch.testing.assert_close(norm.range, torch.tensor([-5.0, 20.0]))
    assert norm.scale().item() == 25.0


def test_symlog_inverts():
    x = torch.tensor([-1e4, -3.0, -0.5, 0.0, 0.5, 3.0, 1e4], dtype=torch.float64)
    torch.testing.assert_close(symexp(symlog(x)), x)


def test_two_hot_round_trip_and_edge_bins():
    th = TwoHot(255)
    x = torch.tensor([-300.0, -1.0, 0.0, 0.3, 7.0, 450.0])
    weights = th.encode(x)
    assert torch.allclose(weights.sum(-1), torch.ones(6))
    assert ((weights > 0).sum(-1) <= 2).all()
    torch.testing.assert_close(th.decode(weights), x, rtol=1e-4, atol=1e-4)
    # A value exactly on a bin is one-hot there; beyond the grid it clamps to the end bins.
    on_bin = symexp(th.bins[100])
    assert th.encode(on_bin[None])[0, 100].item() == pytest.approx(1.0)
    beyond = th.encode(torch.tensor([symexp(torch.tensor(25.0)), -symexp(torch.tensor(25.0))]))
    assert beyond[0, -1] == 1 and beyond[1, 0] == 1


def test_two_hot_loss_is_cross_entropy_against_the_encoding():
    th = TwoHot(31)
    logits = torch.randn(5, 31)
    target = torch.tensor([-2.0, 0.0, 0.4, 3.0, 12.0])
    dense = -(th.encode(target) * torch.log_softmax(logits, -1)).sum(-1)
    torch.testing.assert_close(th.loss(logits, target), dense)


def test_a_replayed_return_into_a_terminal_window_end_is_its_last_reward():
    reward = torch.tensor([[0.0], [1.0], [3.0]])
    cont = torch.tensor([[1.0], [1.0], [0.0]])  # obs 2, the window's last, is terminal
    value = torch.tensor([[0.0], [6.0], [50.0]])
    returns, weight = replay_lambda_return(reward, cont, torch.zeros(3, 1), value, 0.5, 0.5)
    torch.testing.assert_close(returns[1, 0], torch.tensor(3.0))
    torch.testing.assert_close(returns[0, 0], torch.tensor(1.0 + 0.5 * (0.5 * 6.0 + 0.5 * 3.0)))
    torch.testing.assert_close(weight[:, 0], torch.tensor([1.0, 1.0]))
