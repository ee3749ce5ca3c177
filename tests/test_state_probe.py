"""The state probe (agent/analysis/state_probe.py): its read-out recovers what is linearly
there and nothing else, and it pairs each env state with what the policy acted on then."""

import math

import numpy as np
import pytest
import torch

import agent.analysis.state_probe as state_probe
from agent.analysis.reward_check import load_run
from agent.analysis.state_probe import CARTPOLE, held_out_fits, probe_state
from agent.loop.acting import ActingPolicy
from tests.helpers import smoke_run


def test_the_read_out_recovers_a_linear_state_and_not_an_unrelated_one():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 8))
    linear = x @ rng.normal(size=8) + 3.0
    unrelated = rng.normal(scale=2.0, size=2000)
    # far from zero against its spread: a shrunk intercept would miss it by more than that
    offset = 5.0 + 0.01 * x[:, 0]
    fit = np.arange(2000) < 1000
    there, absent, shifted = held_out_fits(x, np.stack([linear, unrelated, offset], 1), fit)
    assert there.r2 > 0.999 and there.rmse < 0.05 * linear.std()
    assert abs(absent.r2) < 0.02 and math.isclose(absent.rmse, 2.0, rel_tol=0.1)
    assert shifted.r2 > 0.99, shifted


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("probe")
    smoke_run(tmp_path)  # a real 200-step CartPole run
    return tmp_path / "run"


def test_each_state_is_paired_with_the_observation_the_policy_acted_on(cartpole_run,
                                                                        monkeypatch):
    seen = []

    class Recording(ActingPolicy):
        def __call__(self, obs, is_first):
            seen.append(obs["obs"].numpy().copy())
            return super().__call__(obs, is_first)

    monkeypatch.setattr(state_probe, "ActingPolicy", Recording)
    agent, _, _ = load_run(cartpole_run)
    states, h, _, _, _ = state_probe.collect(agent, envs=4, steps=60, seed=0)
    observed = np.stack(seen, 1)  # [envs, steps, 4]: CartPole's observation is its state
    assert states.shape == observed.shape == (4, 60, 4) and h.shape[:2] == (4, 60)
    assert np.allclose(states, observed, atol=1e-6)
    # episodes ended and restarted inside the window, so the boundaries were crossed
    assert (np.abs(np.diff(states[..., 0], axis=1)) > 0.05).any()


def test_the_probe_reads_a_real_run_against_its_envs_state(cartpole_run):
    agent, _, _ = load_run(cartpole_run)
    result = probe_state(agent, envs=4, steps=30, seed=0)
    assert result.samples == 120  # every step scored once, from the other half's fit
    assert list(result.features) == ["h", "code", "h and code"]
    assert list(result.imagined) == list(result.imagined_likeliest) == [1, 5, 15]
    for fits in result.features.values():
        assert len(fits) == 4 and all(np.isfinite([f.r2, f.rmse]).all() for f in fits)
    assert len(result.spread) == 4 and all(s > 0 for s in result.spread)
    lines = result.lines(CARTPOLE)
    assert lines[0] == "| read from | x | x_dot | theta | theta_dot |"
    assert lines[-2].startswith("| the state's std |")
    assert lines[-3].startswith("| imagined 15 steps ahead, likeliest codes |")


def test_imagining_with_the_true_codes_reproduces_the_real_steps_read_out(cartpole_run,
                                                                          monkeypatch):
    """With the prior's samples replaced by the codes the encoder gave the real frames, k
    imagined steps fed the actions taken land on the real h of step t + k: the imagined
    read-out then scores exactly as the real one on those steps, so starts, actions and the
    episode boundaries line up."""
    agent, _, _ = load_run(cartpole_run)
    played = state_probe.collect(agent, envs=4, steps=60, seed=0)
    fitted = np.array([True, True, False, False])
    horizon, reach = 5, 60 - 5
    true_codes = iter(torch.as_tensor(played.code[~fitted][:, k:k + reach].reshape(
        -1, played.code.shape[-1])) for k in range(1, horizon + 1))
    monkeypatch.setattr(agent.world_model, "sample_code", lambda h: next(true_codes))
    feat = np.concatenate([played.h, played.code], -1)
    read = state_probe.ReadOut.fit(feat[fitted].reshape(-1, feat.shape[-1]),
                                   played.state[fitted].reshape(-1, 4))
    imagined = state_probe.imagined_fits(agent, played, read, ~fitted, horizon)
    first = played.is_first[~fitted]
    kept = ~np.stack([first[:, k:k + reach] for k in range(1, horizon + 1)]).any(0)
    assert 0 < kept.sum() < kept.size  # some starts cross an episode's start, most do not
    real = state_probe.scores(read(feat[~fitted][:, horizon:][kept]),
                              played.state[~fitted][:, horizon:][kept])
    for got, want in zip(imagined, real, strict=True):
        assert math.isclose(got.rmse, want.rmse, rel_tol=1e-4, abs_tol=1e-7), (got, want)
