"""The state probe (agent/analysis/state_probe.py): its read-out recovers what is linearly
there and nothing else, and it reads a real run's agent against the env's own state."""

import math

import numpy as np

from agent.analysis.reward_check import load_run
from agent.analysis.state_probe import CARTPOLE, held_out_fits, probe_state
from tests.helpers import smoke_run


def test_the_read_out_recovers_a_linear_state_and_not_an_unrelated_one():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 8))
    linear = x @ rng.normal(size=8) + 3.0
    unrelated = rng.normal(scale=2.0, size=2000)
    fit = np.arange(2000) < 1000
    there, absent = held_out_fits(x, np.stack([linear, unrelated], 1), fit)
    assert there.r2 > 0.999 and there.rmse < 0.05 * linear.std()
    assert abs(absent.r2) < 0.02 and math.isclose(absent.rmse, 2.0, rel_tol=0.1)


def test_the_probe_reads_a_real_run_against_its_envs_state(tmp_path):
    smoke_run(tmp_path)  # a real 200-step CartPole run
    agent, _, _ = load_run(tmp_path / "run")
    result = probe_state(agent, envs=4, steps=30, seed=0)
    assert result.samples == (60, 60)  # two envs fitted, two scored
    assert list(result.features) == ["h", "code", "h and code"]
    for fits in result.features.values():
        assert len(fits) == 4 and all(np.isfinite([f.r2, f.rmse]).all() for f in fits)
    assert len(result.spread) == 4 and all(s > 0 for s in result.spread)
    lines = result.lines(CARTPOLE)
    assert lines[0] == "| read from | x | x_dot | theta | theta_dot |"
    assert lines[-2].startswith("| the state's std |")
