"""benchmarks/reference_scores.json parses, every entry names its source and unit, and the
loader returns the published numbers."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import reference  # noqa: E402

DMC_TASKS = ("cartpole_balance", "cartpole_swingup", "reacher_easy", "walker_walk",
             "cheetah_run", "finger_spin", "pendulum_swingup", "ball_in_cup_catch",
             "walker_stand", "reacher_hard", "hopper_stand", "acrobot_swingup")


def test_every_entry_names_its_source_and_unit():
    entries = reference.load()
    assert len(entries) > 100
    for entry in entries:
        assert entry["source"].strip() and entry["unit"] in ("frames", "env_steps")
    assert {e["unit"] for e in entries if e["suite"].startswith("dmc")} == {"frames"}


@pytest.mark.parametrize("task", DMC_TASKS)
def test_dreamerv3_dmc_proprio_has_every_budget(task):
    values = [reference.reference_value("dmc_proprio", task, b)
              for b in (50_000, 100_000, 250_000, 500_000)]
    assert all(v is not None and 0 <= v <= 1000 for v in values)


def test_published_numbers_come_back():
    assert reference.reference_value("dmc_proprio", "walker_walk", 100_000) == 518
    assert reference.reference_value("dmc_vision", "cartpole_swingup", 100_000) == 607
    assert reference.reference_value("minatar", "breakout", 100_000, agent="dqn") == 4
    assert reference.reference_value("minatar", "space_invaders", 5_000_000,
                                     agent="ac_lambda") == 185
    assert reference.reference_value("cartpole", "CartPole-v1", None, agent="ppo_sb3") == 20_000
    assert reference.reference_value("dmc_proprio", "walker_walk", 100_000, agent="x") is None
    ablation = [e for e in reference.load() if e.get("study") == "quantizer_ablation"]
    assert {e["agent"] for e in ablation} >= {"dcmpc_fsq_codes", "dcmpc_vq_sampled",
                                              "dreamerv3_fsq", "dcmpc_continuous_mse"}


def test_an_entry_without_a_source_is_refused(tmp_path):
    bad = tmp_path / "scores.json"
    bad.write_text('{"entries": [{"suite": "s", "task": "t", "agent": "a", "metric": "m", '
                   '"budget": 1, "unit": "frames", "value": 1, "source": " "}]}')
    with pytest.raises(reference.ReferenceError, match="entry 0"):
        reference.load(bad)
