"""The dynamics loss further ahead (model.overshoot): what it scores, where its gradient
goes, and that without it the losses are DreamerV3's one-step ones."""

import pytest
import torch

from agent.agent import Agent
from agent.errors import ConfigError
from agent.validation import validate
from tests.conftest import small_config
from tests.helpers import cartpole_replay


@pytest.fixture(scope="module")
def replay():
    return cartpole_replay(300)


def batch_with_an_episode_start(replay, seed: int = 0):
    torch.manual_seed(seed)
    for _ in range(100):
        batch = replay.sample(4, 16)
        if batch.is_first[:, 1:].any():
            return batch
    raise AssertionError("random CartPole play gave no episode start inside a window")


def agent_with(name: str, overshoot: int) -> Agent:
    cfg = small_config(name)
    cfg.model.overshoot = overshoot
    torch.manual_seed(0)
    return Agent(4, 2, cfg)


def test_without_overshoot_there_is_no_such_term_and_the_others_are_unchanged(replay):
    batch = batch_with_an_episode_start(replay)
    plain, shooting = agent_with("categorical", 0), agent_with("categorical", 3)
    shooting.load_state_dict(plain.state_dict())
    torch.manual_seed(1)
    one_step, _ = plain.world_model.loss(batch)
    torch.manual_seed(1)  # the posterior samples come first: the same in both
    further, _ = shooting.world_model.loss(batch)
    assert "overshoot" not in one_step and further["overshoot"].item() > 0
    assert {k: v.item() for k, v in one_step.items()} == \
        {k: v.item() for k, v in further.items() if k != "overshoot"}


def hand_rollouts(wm, batch, h, depth, code_of, score) -> torch.Tensor:
    """A loop over every start and step of the rollouts overshoot_loss batches: the prior
    rolled from each h[b, t] on `code_of(its output)`, stopped at the window's end or an
    episode's start; `score(prior output at t + k, b, t + k)` for each step it reaches."""
    B, T = batch.action.shape[:2]
    scores = []
    for b in range(B):
        for t in range(T):
            rolled = h[b, t]
            for k in range(1, depth + 1):
                if t + k >= T or batch.is_first[b, t + 1:t + k + 1].any():
                    break
                rolled = wm.step(rolled, code_of(wm.prior(rolled)), batch.action[b, t + k - 1])
                scores.append(score(wm.prior(rolled), b, t + k))
    return torch.stack(scores)


def test_overshoot_scores_each_start_k_steps_ahead_within_its_episode(replay):
    """With `none`'s point prior a sample is the prior's mean (bounded by tanh, as its
    code), so the rollouts are exact and the hand loop gives the same mean."""
    wm = agent_with("none", 3).world_model
    batch = batch_with_an_episode_start(replay)
    with torch.no_grad():
        losses, states = wm.loss(batch)
        post = states.quantized.code
        errors = hand_rollouts(wm, batch, states.h, 3, torch.tanh,
                               lambda params, b, s: (torch.tanh(params) - post[b, s]).pow(2).sum())
    assert torch.allclose(losses["overshoot"], errors.mean(), rtol=1e-5)
    # Fewer scored steps than starts times depth: the window's end and the episode's
    # start both cut rollouts short.
    assert len(errors) < batch.action.shape[0] * batch.action.shape[1] * 3


def test_categorical_overshoot_is_the_kl_per_step_with_free_bits_each(replay):
    """Rollouts on the prior's likeliest codes (in place of samples) make a hand loop exact:
    each scored step's KL, summed over groups, is clamped at free bits on its own."""
    wm = agent_with("categorical", 3).world_model
    wm.prior_dist.sample = wm.prior_dist.likeliest
    batch = batch_with_an_episode_start(replay)
    with torch.no_grad():
        torch.manual_seed(2)
        _, states = wm.loss(batch)
        probs = states.quantized.probs
        G, K = probs.shape[-2:]

        def likeliest(params):
            return torch.nn.functional.one_hot(params.unflatten(-1, (G, K)).argmax(-1), K
                                               ).flatten().float()

        def kl(params, b, s):
            post = probs[b, s]
            return (post * (post.clamp(min=1e-30).log() - wm.prior_dist.logprobs(params))).sum()

        kls = hand_rollouts(wm, batch, states.h, 3, likeliest, kl)
        wm.free_bits = kls.median().item()  # half the steps below it
        torch.manual_seed(2)  # the same posterior samples
        losses, _ = wm.loss(batch)
    assert torch.allclose(losses["overshoot"], kls.clamp(min=wm.free_bits).mean(), rtol=1e-4)
    assert losses["overshoot"] > kls.mean()  # the clamp acted step by step


@pytest.mark.parametrize("name", ["fsq", "categorical"])
def test_overshoot_trains_the_sequence_model_and_prior_never_the_encoder(name, replay):
    agent = agent_with(name, 2)
    for _ in range(3):  # past the zero-initialised heads' first steps
        agent.train_step(replay.sample(4, 16))
    wm = agent.world_model
    wm.free_bits = 0.0
    losses, _ = wm.loss(batch_with_an_episode_start(replay))
    trained = {"gru": wm.gru, "step_input": wm.step_input, "prior": wm.prior}
    params = [p for part in trained.values() for p in part.parameters()]
    encoder = list(wm.encoder.parameters()) + list(wm.quantizer.parameters())
    grads = torch.autograd.grad(losses["overshoot"], params + encoder, allow_unused=True)
    assert all(g is not None and g.abs().sum() > 0 for g in grads[:len(params)])
    assert all(g is None or g.abs().sum() == 0 for g in grads[len(params):])


def test_an_update_with_overshoot_logs_the_term(replay):
    agent = agent_with("fsq", 2)
    metrics = agent.train_step(replay.sample(4, 16))
    assert torch.isfinite(metrics["loss/overshoot"]) and metrics["loss/overshoot"] >= 1.0


@pytest.mark.parametrize("overshoot", [-1, 16])
def test_an_overshoot_outside_the_window_is_refused_before_building(overshoot):
    cfg = small_config("fsq")  # seq_len 16
    cfg.model.overshoot = overshoot
    with pytest.raises(ConfigError, match=rf"model\.overshoot={overshoot} is invalid: it must "
                                          r"be in \[0, train\.seq_len\) = \[0, 16\)"):
        validate(cfg)


def test_with_no_prior_gradient_into_h_overshoot_trains_the_prior_head_alone(replay):
    agent = agent_with("fsq", 2)
    agent.world_model.prior_grad_into_h = 0.0
    for _ in range(3):
        agent.train_step(replay.sample(4, 16))
    wm = agent.world_model
    wm.free_bits = 0.0
    losses, _ = wm.loss(batch_with_an_episode_start(replay))
    head, sequence = list(wm.prior.parameters()), [*wm.gru.parameters(),
                                                  *wm.step_input.parameters()]
    grads = torch.autograd.grad(losses["overshoot"], head + sequence, allow_unused=True)
    assert all(g is not None and g.abs().sum() > 0 for g in grads[:len(head)])
    assert all(g is None or g.abs().sum() == 0 for g in grads[len(head):])
