"""The open-loop errors logged under model/: exact on known predictions, finite on a real
model, and measuring them during training changes nothing about the training."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from agent.agent import Agent
from agent.loop.openloop import OpenLoop
from agent.loop.openloop_errors import HORIZONS, measure_open_loop, open_loop_errors
from tests.conftest import small_config
from tests.helpers import cartpole_replay

ROOT = Path(__file__).resolve().parents[1]
KEYS = {f"model/openloop_{name}_h{h}" for name in ("reward_mae", "obs_mse") for h in HORIZONS}


def test_errors_are_exact_and_stop_at_the_end_of_the_observed_episode():
    # Two windows: context 2, then 3 imagined steps; the second window's episode ends after
    # its first imagined step (a new one starts at index 3).
    reward = torch.tensor([[0.0, 0.0, 1.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0, 1.0]])
    pred_reward = torch.tensor([[0.0, 0.0, 0.5, 1.0, 3.0], [0.0, 0.0, 0.0, 9.0, 9.0]])
    obs = torch.zeros(2, 5, 2)
    pred_obs = obs.clone()
    pred_obs[:, 2] = torch.tensor([1.0, 3.0])  # squared errors 1 and 9: mean 5 per window
    is_first = torch.zeros(2, 5)
    is_first[1, 3] = 1
    result = OpenLoop({"obs": obs}, {"obs": pred_obs}, reward, pred_reward, context=2)
    errors = open_loop_errors(result, is_first, horizons=(1, 3, 4))
    assert errors["model/openloop_reward_mae_h1"] == 0.75  # |0.5 - 1| and |0 - 1|
    assert errors["model/openloop_obs_mse_h1"] == 5.0
    assert errors["model/openloop_reward_mae_h3"] == 2.0  # the first window alone
    assert errors["model/openloop_obs_mse_h3"] == 0.0
    assert math.isnan(errors["model/openloop_reward_mae_h4"])  # beyond every window


def test_a_real_model_gives_every_documented_key_finite():
    replay = cartpole_replay(300)
    agent = Agent(4, 2, small_config("fsq"))
    for _ in range(5):
        agent.train_step(replay.sample(4, 16))
    errors = measure_open_loop(agent.world_model, replay, np.random.default_rng(0), 4,
                               torch.device("cpu"))
    assert set(errors) == KEYS
    assert all(math.isfinite(v) and v >= 0 for v in errors.values()), errors


def _events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_measuring_during_training_leaves_the_run_unchanged(tmp_path):
    runs = {}
    for on in ("true", "false"):
        run_dir = tmp_path / on
        result = subprocess.run(
            [sys.executable, str(ROOT / "run.py"), "preset=debug", "steps=300", "threads=1",
             f"log.openloop_errors={on}", "wandb.mode=disabled", "log.progress=false",
             f"run_dir={run_dir}"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        runs[on] = _events(run_dir)
    logged = [e for e in runs["true"] if "loss/reward" in e]
    assert logged and all(KEYS <= set(e) for e in logged)
    assert not any(k.startswith("model/") for e in runs["false"] for k in e)

    def learning(events):
        return [{k: v for k, v in e.items() if k.startswith(("loss/", "eval/return"))}
                for e in events]

    assert learning(runs["true"]) == learning(runs["false"])
