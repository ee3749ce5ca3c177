"""Discrete, MultiDiscrete and Box actions: encoding, the actor's distributions, and real
training runs on each."""

import json
import math
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from agent.behavior.policies import BoundedNormal, Categoricals
from envs import ActionCodec, SpaceError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("space", [
    gym.spaces.Discrete(3, start=1),
    gym.spaces.MultiDiscrete([3, 2], start=[0, 5]),
    gym.spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32)),
])
def test_encoded_actions_map_into_the_space(space):
    codec = ActionCodec(space)
    encoded = codec.random(64, np.random.default_rng(0))
    assert encoded.shape == (64, codec.size)
    for action in codec.to_env(encoded):
        assert space.contains(action)


def test_box_actions_scale_from_unit_range_to_the_bounds():
    codec = ActionCodec(gym.spaces.Box(np.array([-2.0, 0.0], np.float32),
                                       np.array([2.0, 1.0], np.float32)))
    assert codec.continuous and codec.size == 2
    out = codec.to_env(torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.5], [3.0, -7.0]]))
    np.testing.assert_allclose(out, [[-2, 0], [2, 1], [0, 0.75], [2, 0]])


def test_multidiscrete_actions_read_each_one_hot_segment():
    codec = ActionCodec(gym.spaces.MultiDiscrete([3, 2], start=[0, 5]))
    assert codec.segments == [3, 2] and codec.size == 5
    encoded = torch.tensor([[0, 0, 1, 1, 0], [1, 0, 0, 0, 1]], dtype=torch.float32)
    np.testing.assert_array_equal(codec.to_env(encoded), [[2, 5], [0, 6]])


@pytest.mark.parametrize("space", [
    gym.spaces.Box(-np.inf, np.inf, (2,)),
    gym.spaces.Box(-1, 1, (2, 2)),
    gym.spaces.Dict({"a": gym.spaces.Discrete(2)}),
])
def test_unsupported_action_spaces_are_named(space):
    with pytest.raises(SpaceError, match="action space .* is not supported; supported: "
                                         "Discrete, MultiDiscrete"):
        ActionCodec(space)


def test_bounded_normal_is_a_normal_with_squashed_mean_and_bounded_std():
    policy = BoundedNormal(3)
    params = torch.randn(5, 6) * 3
    mean_raw, std_raw = params.chunk(2, -1)
    mean = torch.tanh(mean_raw)
    std = 0.9 * torch.sigmoid(std_raw + 2) + 0.1
    normal = torch.distributions.Normal(mean, std)
    action = torch.rand(5, 3) * 2 - 1
    torch.testing.assert_close(policy.log_prob(params, action),
                               normal.log_prob(action).sum(-1))
    torch.testing.assert_close(policy.entropy(params), normal.entropy().sum(-1))
    assert torch.equal(policy.sample(params, greedy=True), mean)
    samples = policy.sample(params.expand(4000, 5, 6))
    torch.testing.assert_close(samples.mean(0), mean, atol=0.1, rtol=0)
    torch.testing.assert_close(samples.std(0), std, atol=0.1, rtol=0)


def test_categoricals_score_each_segment_with_unimix():
    policy = Categoricals([3, 2], unimix=0.01)
    params = torch.randn(4, 5)
    action = policy.sample(params)
    assert torch.equal(action[:, :3].sum(-1), torch.ones(4))
    assert torch.equal(action[:, 3:].sum(-1), torch.ones(4))
    want = 0
    for logits, a in zip(params.split([3, 2], -1), action.split([3, 2], -1), strict=True):
        probs = 0.99 * torch.softmax(logits, -1) + 0.01 / logits.shape[-1]
        want = want + (probs.log() * a).sum(-1)
    torch.testing.assert_close(policy.log_prob(params, action), want)
    greedy = policy.sample(params, greedy=True)
    assert torch.equal(greedy[:, :3].argmax(-1), params[:, :3].argmax(-1))


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("env_id, renders", [
    ("tests.custom_env:StrictBoundsPendulum-v0", True),
    ("tests.custom_env:TwoKnobCartPole-v0", False),  # its constructor takes no render_mode
])
def test_training_runs_with_box_and_multidiscrete_actions(tmp_path, env_id, renders):
    # Both envs raise on an action outside their space, so finishing means every action
    # the agent took (random prefill, training, greedy eval) was inside the bounds.
    run_dir = tmp_path / "run"
    result = _run("preset=debug", f"env.id={env_id}", "steps=300", "threads=1",
                  "eval.video_every=1", "wandb.mode=disabled", "log.progress=false",
                  f"run_dir={run_dir}")
    assert result.returncode == 0, result.stderr
    # Filmed at the eval where it can be; otherwise no (empty) videos folder is left.
    assert (run_dir / "videos").exists() == renders
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [v for e in events for k, v in e.items() if k.startswith("loss/")]
    assert losses and all(math.isfinite(v) for v in losses)
    assert any("eval/return" in e for e in events)
    assert any("train/actor_entropy" in e for e in events)

    # Evaluating writes its results whether or not the env can be filmed.
    result = _run(f"evaluate={run_dir}", "eval.episodes=2")
    assert result.returncode == 0, result.stderr
    saved = json.loads((run_dir / "eval.json").read_text())
    assert saved["eval/episodes"] == 2 and math.isfinite(saved["eval/return"])
    assert (saved["video"] is not None) == renders == (run_dir / "eval.mp4").exists()
    if not renders:
        assert "no video: " in result.stdout
