"""Does the world model remember? Trained alone on a random policy's cue-recall episodes,
its reward head must tell a right answer (+1) from a wrong one (-1) on held-out episodes,
which it can only do by keeping the cue in h (agent/analysis/memory_probe.py).

The test budget (a few seconds on one thread): the small model, short windows and a higher
model learning rate than the default (1e-3), which shortens the plateau every delay starts
with (docs/results/memory.md)."""

import sys
from pathlib import Path

import torch

from agent.agent import Agent
from agent.analysis.memory_probe import probe, random_replay
from tests.conftest import small_config


def probe_agent() -> Agent:
    cfg = small_config("fsq")
    cfg.model.reward_bins = 255  # the default head: two-hot over 255 bins
    cfg.train.model_opt.lr = 1e-3
    cfg.train.batch_size, cfg.train.seq_len = 16, 16
    return Agent(3, 2, cfg)


def test_the_reward_head_learns_the_answer_when_the_cue_is_shown_with_it():
    torch.manual_seed(0)
    result = probe(probe_agent(), delay=0, updates=800)
    assert result.answers > 200
    assert result.accuracy >= 0.9, result
    assert result.answer_mae < 0.5 and result.other_mae < 0.1, result


def test_the_probes_episode_aligned_sampling_starts_every_window_at_an_episode_start():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from memory_variants import sample_from_episode_starts

    replay = random_replay(60, delay=3)
    sample_from_episode_starts(replay)
    batch = replay.sample(32, 10)
    assert batch.is_first[:, 0].all()
    assert batch.obs["obs"][:, 0, :2].sum(-1).eq(1).all()  # the cue is shown at every start
    assert batch.is_first[:, 5].all()  # delay + 2 stored steps (the last one terminal) later


def test_a_head_passes_only_its_share_of_gradient_into_h():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from memory_variants import GradientIntoH

    torch.manual_seed(0)
    head = torch.nn.Linear(5, 2)
    scaled = GradientIntoH(head, deter=3, scale=0.25)
    x = torch.randn(4, 5, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    out = scaled(x)
    torch.testing.assert_close(out, head(x_ref))  # the value is the head's own
    weight_grad = torch.autograd.grad(head(x_ref).square().sum(), head.weight)[0]
    out.square().sum().backward()
    head(x_ref).square().sum().backward()
    torch.testing.assert_close(x.grad[:, :3], 0.25 * x_ref.grad[:, :3])  # h: a quarter
    torch.testing.assert_close(x.grad[:, 3:], x_ref.grad[:, 3:])  # the rest: all of it
    torch.testing.assert_close(head.weight.grad, 2 * weight_grad)  # both passes, unscaled
