"""Open-loop predictions: observed for a context, imagined after it from actions alone, and
plotted; producing them during training changes nothing about the training."""

import json
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import torch

from agent.agent import Agent
from agent.distributions import symexp
from agent.loop.openloop import open_loop, plot_open_loop
from tests.conftest import small_config
from tests.helpers import cartpole_replay

ROOT = Path(__file__).resolve().parents[1]


def test_predictions_after_the_context_ignore_the_observations(tmp_path):
    wm = Agent(4, 2, small_config("fsq")).world_model
    batch = cartpole_replay(200).sample(2, 16)
    batch = batch._replace(is_first=torch.zeros_like(batch.is_first))
    torch.manual_seed(0)
    result = open_loop(wm, batch, context=4)
    assert result.pred_obs["obs"].shape == batch.obs["obs"].shape
    assert result.pred_reward.shape == (2, 16)

    # Within the context: the posterior's reconstruction, as training computes it.
    with torch.no_grad():
        states = wm.observe(batch.obs, batch.action, batch.is_first)
        recon = symexp(wm.decoder(wm.feat(states.h, states.quantized.code)))
    torch.testing.assert_close(result.pred_obs["obs"][:, :4], recon[:, :4])

    # After it: observations are never looked at, the actions are.
    obs = batch.obs["obs"]
    changed = batch._replace(obs={"obs": torch.cat([obs[:, :4], obs[:, 4:] + 5], 1)})
    torch.manual_seed(0)
    assert torch.equal(open_loop(wm, changed, context=4).pred_obs["obs"],
                       result.pred_obs["obs"])
    flipped = batch._replace(action=batch.action.flip(-1))
    torch.manual_seed(0)
    assert not torch.equal(open_loop(wm, flipped, context=4).pred_obs["obs"][:, 5:],
                           result.pred_obs["obs"][:, 5:])

    image = iio.imread(plot_open_loop(result, tmp_path / "openloop.png"))
    assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0


def _losses(run_dir: Path) -> list[dict]:
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in e.items() if k.startswith(("loss/", "eval/return"))}
            for e in events]


def test_plotting_during_training_leaves_the_run_unchanged(tmp_path):
    runs = {}
    for every in (0, 100):
        run_dir = tmp_path / f"every{every}"
        result = subprocess.run(
            [sys.executable, str(ROOT / "run.py"), "preset=debug", "steps=300", "threads=1",
             f"log.openloop_every={every}", "wandb.mode=disabled", "log.progress=false",
             f"run_dir={run_dir}"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        runs[every] = run_dir
    plots = sorted(p.name for p in (runs[100] / "openloop").iterdir())
    assert plots == ["openloop-0000000100.png", "openloop-0000000200.png",
                     "openloop-0000000300.png"]
    assert not (runs[0] / "openloop").exists()
    assert _losses(runs[100]) == _losses(runs[0])
