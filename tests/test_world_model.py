"""Gradient paths of the world model on real CartPole batches, for every quantizer."""

import math

import pytest
import torch

from agent.agent import Agent
from agent.config import STEP_INPUTS
from agent.distributions import categorical_kl
from agent.errors import ConfigError
from agent.model.networks import mlp, scale_gradient
from agent.quantizers import QuantizerOutput, available
from agent.validation import validate
from tests.conftest import small_config
from tests.helpers import cartpole_replay


@pytest.fixture(scope="module")
def replay():
    return cartpole_replay(300)


def trained_agent(name: str, replay, updates: int = 5) -> Agent:
    """A few real updates first: zero-initialised output layers (reward head) pass no
    gradient back until they have moved."""
    agent = Agent(4, 2, small_config(name))
    for _ in range(updates):
        agent.train_step(replay.sample(4, 16))
    return agent


def encoder_grads(agent: Agent, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    params = dict(agent.world_model.encoder.named_parameters())
    grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    return {name: g for name, g in zip(params, grads, strict=True)}


@pytest.mark.parametrize("name", available())
@pytest.mark.parametrize("term", ["recon", "reward", "cont"])
def test_head_losses_reach_every_encoder_weight(name, term, replay):
    agent = trained_agent(name, replay)
    losses, _ = agent.world_model.loss(replay.sample(4, 16))
    for param_name, grad in encoder_grads(agent, losses[term]).items():
        assert grad is not None and grad.abs().sum() > 0, (
            f"{term} loss gives no gradient to encoder.{param_name} through {name}")


def test_kl_terms_stop_gradient_on_the_right_side_and_match_a_hand_value():
    cfg = small_config("categorical")
    cfg.quantizer.groups, cfg.quantizer.classes = 1, 3
    cfg.model.prior_unimix = 0.0
    wm = Agent(4, 2, cfg).world_model
    wm.free_bits = 0.0
    probs = torch.tensor([[0.7, 0.2, 0.1]], requires_grad=True)
    prior = torch.log(torch.tensor([[0.5, 0.25, 0.25]])).requires_grad_(True)
    post = QuantizerOutput(probs, torch.zeros(1, 1), probs[:, None], {}, {})
    dyn, rep = wm.dynamics_losses(post, prior)
    hand = 0.7 * math.log(0.7 / 0.5) + 0.2 * math.log(0.2 / 0.25) + 0.1 * math.log(0.1 / 0.25)
    assert dyn.item() == pytest.approx(hand) and rep.item() == pytest.approx(hand)
    d_probs, d_prior = torch.autograd.grad(dyn, [probs, prior], allow_unused=True)
    assert d_probs is None and d_prior.abs().sum() > 0  # dyn trains the prior only
    d_probs, d_prior = torch.autograd.grad(rep, [probs, prior], allow_unused=True)
    assert d_prior is None and d_probs.abs().sum() > 0  # rep trains the posterior only
    wm.free_bits = 1.0  # below the free nats: no gradient at all
    dyn, _ = wm.dynamics_losses(post, prior)
    assert dyn.item() == 1.0
    assert torch.autograd.grad(dyn, prior)[0].abs().sum() == 0


@pytest.mark.parametrize("name", available())
def test_dynamics_loss_trains_the_prior(name, replay):
    agent = trained_agent(name, replay)
    agent.world_model.free_bits = 0.0
    losses, _ = agent.world_model.loss(replay.sample(4, 16))
    grads = torch.autograd.grad(losses["dyn"], list(agent.world_model.prior.parameters()))
    assert all(g.abs().sum() > 0 for g in grads)


def test_representation_loss_reaches_the_encoder_for_stochastic_posteriors(replay):
    agent = trained_agent("categorical", replay)
    agent.world_model.free_bits = 0.0
    losses, _ = agent.world_model.loss(replay.sample(4, 16))
    grads = encoder_grads(agent, losses["rep"])
    assert all(g is not None and g.abs().sum() > 0 for g in grads.values())


def test_one_hot_posteriors_score_rep_as_the_kl_divergence_would():
    wm = Agent(4, 2, small_config("fsq")).world_model
    wm.free_bits = 0.0
    q = wm.quantizer
    indices = torch.randint(q.classes, (5, q.groups))
    probs = torch.nn.functional.one_hot(indices, q.classes).float()
    post = QuantizerOutput(q.indices_to_code(indices), indices, probs, {}, {})
    params = torch.randn(5, q.groups * q.classes)
    _, rep = wm.dynamics_losses(post, params)
    expected = categorical_kl(probs, wm.prior_dist.logprobs(params)).sum(-1).mean()
    assert rep.item() == pytest.approx(expected.item())


@pytest.mark.parametrize("temperature", [0.0, 0.5])
def test_fsq_representation_loss_reaches_the_encoder_only_with_a_rep_temperature(
        temperature, replay):
    cfg = small_config("fsq")
    cfg.quantizer.rep_temperature = temperature
    agent = Agent(4, 2, cfg)
    agent.world_model.free_bits = 0.0
    losses, _ = agent.world_model.loss(replay.sample(4, 16))
    assert torch.isfinite(losses["rep"]) and losses["rep"] > 0
    if temperature:
        grads = encoder_grads(agent, losses["rep"])
        assert all(g is not None and g.abs().sum() > 0 for g in grads.values())
    else:  # a one-hot posterior: nothing for the representation loss to train
        assert not losses["rep"].requires_grad


@pytest.mark.parametrize("name", available())
def test_shapes_at_every_boundary(name, replay):
    cfg = small_config(name)
    agent = Agent(4, 2, cfg)
    batch = replay.sample(4, 16)
    losses, states = agent.world_model.loss(batch)
    q = agent.world_model.quantizer
    assert states.h.shape == (4, 16, cfg.model.deter)
    assert states.quantized.code.shape == (4, 16, q.code_dim)
    assert states.quantized.probs.shape == (4, 16, q.groups, q.classes)
    assert set(losses) >= {"recon", "reward", "cont", "dyn", "rep"}
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    metrics = agent.train_step(batch)
    assert all(torch.isfinite(v) for v in metrics.values())
    state = agent.initial_state(3)
    action, state = agent.policy({"obs": torch.randn(3, 4)}, torch.ones(3), state)
    assert action.shape == (3, 2) and torch.equal(action.sum(-1), torch.ones(3))
    assert state.h.shape == (3, cfg.model.deter) and state.code.shape == (3, q.code_dim)


@pytest.mark.parametrize("step_input", STEP_INPUTS)
def test_policy_state_matches_training_unroll(replay, step_input):
    """Acting step by step builds the same h as the batched training unroll."""
    cfg = small_config("fsq")
    cfg.model.step_input = step_input
    agent = Agent(4, 2, cfg).eval()
    batch = replay.sample(1, 16)
    batch = batch._replace(is_first=batch.is_first.clone())
    batch.is_first[:, 0] = 1
    batch.is_first[:, 8] = 1  # a reset inside the window too
    with torch.no_grad():
        states = agent.world_model.observe(batch.obs, batch.action, batch.is_first)
    state = agent.initial_state(1)
    for t in range(16):
        _, state = agent.policy({"obs": batch.obs["obs"][:, t]}, batch.is_first[:, t], state)
        torch.testing.assert_close(state.h, states.h[:, t], atol=1e-5, rtol=1e-5)
        state = state._replace(action=batch.action[:, t])


@pytest.mark.parametrize("name", available())
def test_acting_leaves_quantizer_state_alone(name):
    agent = Agent(4, 2, small_config(name))
    q = agent.world_model.quantizer
    before = {k: v.clone() for k, v in q.state_dict().items()}
    state = agent.initial_state(2)
    for _ in range(5):
        _, state = agent.policy({"obs": torch.randn(2, 4)}, torch.zeros(2), state)
    assert agent.training  # the mode is restored after acting
    for key, value in q.state_dict().items():
        assert torch.equal(value, before[key]), f"acting changed quantizer state {key}"


@pytest.mark.parametrize("name", ["fsq", "vq", "none"])
def test_bf16_update_runs_networks_in_bf16_and_quantizer_in_fp32(name, replay):
    cfg = small_config(name)
    cfg.precision = "bf16"
    agent = Agent(4, 2, cfg)
    seen = {}

    def record(name, dtypes):  # a forward hook that returns None leaves the output alone
        return lambda module, inputs, out: seen.setdefault(name, dtypes(inputs, out)) and None

    agent.world_model.encoder.register_forward_hook(record("encoder", lambda i, o: o.dtype))
    agent.world_model.quantizer.register_forward_hook(
        record("quantizer", lambda i, o: (i[0].dtype, o.code.dtype)))
    agent.actor_critic.actor.register_forward_hook(record("actor", lambda i, o: o.dtype))
    agent.actor_critic.critic.register_forward_hook(record("critic", lambda i, o: o.dtype))
    metrics = agent.train_step(replay.sample(4, 16))
    assert seen == {"encoder": torch.bfloat16, "quantizer": (torch.float32, torch.float32),
                    "actor": torch.bfloat16, "critic": torch.bfloat16}
    losses = {k: v for k, v in metrics.items() if k.startswith("loss/")}
    assert losses and all(v.dtype == torch.float32 for v in losses.values())
    assert all(torch.isfinite(v) for v in metrics.values())
    assert all(p.dtype == torch.float32 for p in agent.parameters())  # weights stay fp32


def test_two_hot_values_stay_fp32_under_bf16_autocast():
    from agent.distributions import TwoHot

    twohot = TwoHot(255)
    values = torch.linspace(300.0, 315.0, 16)
    logits = torch.log(twohot.encode(values).clamp(min=1e-30))  # near two-hot critic outputs
    with torch.autocast("cpu", dtype=torch.bfloat16):
        decoded = twohot.mean(logits)
    assert decoded.dtype == torch.float32
    # bf16 would leave 3 distinct values here, 2 apart; fp32 keeps all 16 within 0.01.
    assert torch.allclose(decoded, values, atol=0.01)


@pytest.mark.parametrize("name", ["fsq", "vq"])  # vq: its EMA codebook moves in forward
def test_a_nan_loss_term_changes_no_weight_and_is_named(name, replay):
    from agent.optim import NonFiniteError

    agent = Agent(4, 2, small_config(name))
    before = {k: v.clone() for k, v in agent.state_dict().items()
              if torch.is_tensor(v)}
    # A hook that turns the reward head's output to NaN: only the reward term goes bad.
    agent.world_model.reward.register_forward_hook(lambda m, i, out: out * float("nan"))
    with pytest.raises(NonFiniteError, match="non-finite reward") as caught:
        agent.train_step(replay.sample(4, 16))
    assert caught.value.terms == ["reward"]
    # Not weights: the quantizer's usage counts, and the mark that the data-dependent start
    # (WorldModel.start_from, before any update) has run.
    for name, value in agent.state_dict().items():
        if name.startswith(("world_model.", "actor_critic.")) and "usage" not in name \
                and not name.endswith("started"):
            assert torch.equal(value, before[name]), name
    assert all(p.grad is None for p in agent.parameters())


def test_an_actor_side_fault_changes_no_weight_of_any_part(replay):
    from agent.optim import NonFiniteError

    agent = Agent(4, 2, small_config("fsq"))
    agent.train_step(replay.sample(4, 16))  # Adam moments and the return range exist
    before = {k: v.clone() for k, v in agent.state_dict().items()
              if torch.is_tensor(v)}
    moments = agent.optimizers["model"].state_dict()["adam"]["state"][0]["exp_avg"].clone()
    # NaN from the actor: the world model's losses are fine, and computed first.
    agent.actor_critic.actor.register_forward_hook(lambda m, i, out: out * float("nan"))
    with pytest.raises(NonFiniteError, match="non-finite actor") as caught:
        agent.train_step(replay.sample(4, 16))
    assert caught.value.terms == ["actor"]
    for name, value in agent.state_dict().items():
        if torch.is_tensor(value) and "usage" not in name:
            assert torch.equal(value, before[name]), name
    torch.testing.assert_close(
        agent.optimizers["model"].state_dict()["adam"]["state"][0]["exp_avg"], moments,
        rtol=0, atol=0)
    assert agent.optimizers["model"].updates == 1  # a skipped update moves no warm-up
    assert all(p.grad is None for p in agent.parameters())


def test_a_loss_term_without_a_scale_stops_the_agent_being_built(monkeypatch):
    from agent.model.world_model import WorldModel

    monkeypatch.setattr(WorldModel, "LOSSES", (*WorldModel.LOSSES, "sharpness"))
    with pytest.raises(ConfigError, match="loss term 'sharpness' has no scale"):
        Agent(4, 2, small_config("fsq"))


def test_outscale_multiplies_the_default_initialisation_of_the_output_layer():
    layers = {}
    for scale in (1.0, 0.25, 0.0):
        torch.manual_seed(3)
        layers[scale] = mlp(8, 16, 2, out=5, outscale=scale)[-1]
    for scale in (0.25, 0.0):
        assert torch.equal(layers[scale].weight, scale * layers[1.0].weight)
        assert torch.equal(layers[scale].bias, scale * layers[1.0].bias)
    assert layers[1.0].weight.abs().min() > 0


@pytest.mark.parametrize("outscale", [0.0, 1.0])
def test_a_zero_reward_output_layer_passes_no_gradient_to_the_encoder_at_first(outscale, replay):
    """Why `model.reward_outscale` exists: from zeros the reward loss reaches nothing below
    the head's output layer until that layer has moved; from a random start it does at once."""
    cfg = small_config("fsq")
    cfg.model.reward_outscale = outscale
    wm = Agent(4, 2, cfg).world_model
    losses, _ = wm.loss(replay.sample(4, 16))
    grads = torch.autograd.grad(losses["reward"], list(wm.encoder.parameters()))
    reaches = max(g.abs().max().item() for g in grads) > 0
    assert reaches == (outscale > 0)
    feat = torch.randn(3, wm.feat_dim)
    start = wm.reward_mean(feat).abs().max().item()  # uniform over symmetric bins: 0
    assert start < 1e-6 if outscale == 0 else start > 1e-3


def test_scale_gradient_keeps_the_value_and_multiplies_the_gradient():
    x = torch.randn(5, 3, requires_grad=True)
    upstream = torch.randn(5, 3)
    for scale in (1.0, 0.3):
        y = scale_gradient(x, scale)
        assert torch.equal(y, x)
        (grad,) = torch.autograd.grad(y, x, upstream)
        assert torch.allclose(grad, scale * upstream, rtol=0, atol=1e-7)
    blocked = scale_gradient(x, 0.0)  # cut from the graph: not even a zero goes back
    assert torch.equal(blocked, x) and not blocked.requires_grad


def test_prior_grad_into_h_scales_what_the_dynamics_loss_sends_below_h(replay):
    """The share multiplies the dyn gradient on the GRU, the step input and the encoder (all
    reached through h), and leaves the prior head's own gradient as it was."""
    agent = trained_agent("fsq", replay)
    wm = agent.world_model
    wm.free_bits = 0.0
    batch = replay.sample(4, 16)
    below_h = [*wm.gru.parameters(), *wm.step_input.parameters(), *wm.encoder.parameters()]
    prior_head = list(wm.prior.parameters())
    grads, values, others = {}, {}, {}
    for share in (1.0, 0.25, 0.0):
        wm.prior_grad_into_h = share
        torch.manual_seed(0)  # the same posterior samples at every share
        losses, _ = wm.loss(batch)
        values[share] = {name: loss.item() for name, loss in losses.items()}
        grads[share] = torch.autograd.grad(losses["dyn"], below_h + prior_head,
                                           retain_graph=True, allow_unused=True)
        rest = sum(loss for name, loss in losses.items() if name not in ("dyn", "rep"))
        others[share] = torch.autograd.grad(rest, below_h, allow_unused=True)
    assert values[0.25] == values[1.0] and values[0.0] == values[1.0]
    for share in (0.25, 0.0):  # the other heads' gradients below h are untouched
        for mine, theirs in zip(others[share], others[1.0], strict=True):
            assert (mine is None) == (theirs is None)
            assert mine is None or torch.allclose(mine, theirs, rtol=1e-5, atol=1e-9)
    n = len(below_h)
    full = grads[1.0]
    assert all(g is not None and g.abs().sum() > 0 for g in full[:n])
    for low, high in zip(grads[0.25][:n], full[:n], strict=True):
        assert torch.allclose(low, 0.25 * high, rtol=1e-4, atol=1e-9)
    assert all(g is None or g.abs().sum() == 0 for g in grads[0.0][:n])
    for share in (0.25, 0.0):
        for mine, theirs in zip(grads[share][n:], full[n:], strict=True):
            assert torch.allclose(mine, theirs, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("share", [1.5, -0.1])
def test_prior_grad_into_h_outside_zero_to_one_is_refused_before_building(share):
    cfg = small_config("fsq")
    cfg.model.prior_grad_into_h = share
    with pytest.raises(ConfigError, match=rf"model\.prior_grad_into_h={share} is invalid: "
                                          r"it must be in \[0, 1\]"):
        validate(cfg)


def test_prior_grad_into_h_is_read_from_the_config():
    cfg = small_config("fsq")
    cfg.model.prior_grad_into_h = 0.25
    assert Agent(4, 2, cfg).world_model.prior_grad_into_h == 0.25


def test_terminal_weight_multiplies_the_continue_loss_at_terminal_steps_only(replay):
    torch.manual_seed(0)
    batch = replay.sample(8, 16)
    assert 0 < (batch.cont == 0).sum() < batch.cont.numel()  # random play ends episodes
    agent = trained_agent("fsq", replay)
    wm = agent.world_model
    torch.manual_seed(1)
    plain, states = wm.loss(batch)
    logits = wm.cont(wm.feat(states.h, states.quantized.code)).squeeze(-1).float()
    per_step = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, batch.cont, reduction="none")
    assert torch.allclose(plain["cont"], per_step.mean())
    wm.terminal_weight = 10.0
    torch.manual_seed(1)
    weighted, _ = wm.loss(batch)
    expected = torch.where(batch.cont == 0, 10 * per_step, per_step).mean()
    assert torch.allclose(weighted["cont"], expected)
    # The terminal steps' gradient on the head's logits is ten times what it was; the
    # others' is unchanged.
    grads = [torch.autograd.grad(torch.nn.functional.binary_cross_entropy_with_logits(
        logits, batch.cont, weight=w).mean(), logits, retain_graph=True)[0]
        for w in (None, wm.continue_weights(batch.cont))]
    ended = batch.cont == 0
    assert torch.allclose(grads[1][ended], 10 * grads[0][ended])
    assert torch.equal(grads[1][~ended], grads[0][~ended])


def test_terminal_weight_is_read_from_the_config_and_must_be_positive():
    cfg = small_config("fsq")
    cfg.model.terminal_weight = 4.0
    assert Agent(4, 2, cfg).world_model.terminal_weight == 4.0
    cfg.model.terminal_weight = 0.0
    with pytest.raises(ConfigError, match=r"model\.terminal_weight=0\.0 is invalid"):
        validate(cfg)


@pytest.mark.parametrize("name", [n for n in available() if n != "none"])
def test_the_likeliest_code_is_each_groups_most_probable_class(name):
    prior = Agent(4, 2, small_config(name)).world_model.prior_dist
    q = prior.quantizer
    winners = torch.randint(q.classes, (8, q.groups))
    logits = torch.randn(8, q.groups, q.classes)
    logits.scatter_(-1, winners[..., None], 5.0)  # above every other class (randn < 5 here)
    assert (logits.topk(2, -1).values[..., 1] < 5.0).all()
    torch.testing.assert_close(prior.likeliest(logits.flatten(-2)), q.indices_to_code(winners))


@pytest.mark.parametrize("name, prior", [("fsq", None), ("categorical", None),
                                         ("none", "gaussian"), ("none", "mse")])
def test_dreaming_the_likeliest_codes_is_deterministic_and_sampling_is_not(name, prior):
    cfg = small_config(name)
    if prior:
        cfg.quantizer.prior = prior
    wm = Agent(4, 2, cfg).world_model.eval()
    h = torch.randn(32, cfg.model.deter)
    code = wm.sample_code(h)
    actions = [torch.nn.functional.one_hot(torch.randint(2, (32,)), 2).float()
               for _ in range(5)]
    with torch.no_grad():
        likeliest = [list(wm.dream(h, code, actions, likeliest=True)) for _ in range(2)]
        sampled = [list(wm.dream(h, code, actions)) for _ in range(2)]
    for (h1, c1), (h2, c2) in zip(*likeliest, strict=True):
        assert torch.equal(h1, h2) and torch.equal(c1, c2)
        torch.testing.assert_close(c1, wm.likeliest_code(h1))
    if prior == "mse":  # a point prediction: its sample is its mean, the likeliest code
        for h1, c1 in sampled[0]:
            torch.testing.assert_close(c1, wm.likeliest_code(h1))
    else:
        assert not all(torch.equal(c1, c2) for (_, c1), (_, c2) in zip(*sampled, strict=True))
