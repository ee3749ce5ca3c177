"""`ac.actor_grad=dynamics`: the actor learns from the gradient of its imagined λ-returns,
backpropagated through the world model into its actions (reparameterised, or discrete by
straight-through)."""

import math

import pytest
import torch
import torch.nn.functional as F
from gymnasium.spaces import Box, Discrete
from torch import nn

from agent.agent import Agent
from agent.behavior.imagination import imagine
from agent.behavior.policies import Categoricals
from agent.data import Batch
from agent.errors import ConfigError
from agent.validation import validate
from envs import ActionCodec
from tests.conftest import small_config
from tests.helpers import compose_config, smoke_run

OBS, ACTIONS = 3, 2


def continuous_batch():
    """A replayed batch from a continuous-action agent's point of view: random observations
    and actions in [-1, 1], small rewards, no terminals."""
    g = torch.Generator().manual_seed(0)
    b, t = 4, 16
    return Batch(obs={"obs": torch.randn(b, t, OBS, generator=g)},
                 action=2 * torch.rand(b, t, ACTIONS, generator=g) - 1,
                 reward=0.1 * torch.randn(b, t, generator=g),
                 cont=torch.ones(b, t), is_first=torch.zeros(b, t))


def make_agent(actor_grad: str) -> Agent:
    """Continuous dynamics throughout (the `none` quantizer's Gaussian prior samples its code
    by reparameterisation), non-zero reward and critic heads (zero-initialised ones would
    pass no gradient), and a continue head held at a constant, since the continue
    probabilities weight the returns without a gradient of their own."""
    cfg = small_config("none")
    cfg.quantizer.prior = "gaussian"
    cfg.ac.actor_grad = actor_grad
    cfg.ac.entropy = 0.0  # the gradient is the returns' alone
    torch.manual_seed(0)
    agent = Agent(OBS, ActionCodec(Box(-1.0, 1.0, (ACTIONS,))), cfg)
    wm, ac = agent.world_model, agent.actor_critic
    # Small: a two-hot mean over exponentially spaced bins moves far for small logits.
    for head in (wm.reward[-1], ac.critic[-1]):
        nn.init.normal_(head.weight, std=0.002)
    nn.init.normal_(ac.actor[-1].weight, std=0.05)
    nn.init.zeros_(wm.cont[-1].weight)
    return agent


def behavior_step(agent: Agent, batch):
    """World-model gradients, then the behaviour losses on imagined rollouts drawn from a
    fixed seed: the same rollouts on every call."""
    agent.zero_grad(set_to_none=True)
    _, states = agent.world_model_gradients(batch)
    torch.manual_seed(1)
    losses, metrics = agent.behavior_gradients(states, batch)
    return losses, metrics


def test_the_actor_gradient_is_the_derivative_of_its_loss_through_imagination():
    """With every random draw fixed, the actor loss is a smooth function of the actor's
    weights: its slope by central differences, along the gradient and along random
    directions, is the gradient's (to 1% of its norm: dropping the path through the
    critic's values or through the actor's inputs along the rollout moves it by 3-4%)."""
    agent = make_agent("dynamics")
    batch = continuous_batch()
    _, metrics = behavior_step(agent, batch)
    assert metrics["return_scale"] == 1.0  # returns within 1: the scale does not move
    actor = list(agent.actor_critic.actor.parameters())
    grad = torch.cat([p.grad.flatten() for p in actor])
    norm = grad.norm()
    assert norm > 1e-4

    def slope(direction: torch.Tensor, eps: float = 1e-3) -> float:
        def loss_moved(step: float) -> float:
            moves = (step * direction).split([p.numel() for p in actor])
            with torch.no_grad():
                for p, move in zip(actor, moves, strict=True):
                    p.add_(move.view_as(p))
            moved = behavior_step(agent, batch)[0]["actor"].item()
            with torch.no_grad():
                for p, move in zip(actor, moves, strict=True):
                    p.sub_(move.view_as(p))
            return moved
        return (loss_moved(eps) - loss_moved(-eps)) / (2 * eps)

    g = torch.Generator().manual_seed(2)
    directions = [grad / norm] + [(d := torch.randn(grad.shape, generator=g)) / d.norm()
                                  for _ in range(3)]
    for direction in directions:
        assert slope(direction) == pytest.approx((grad @ direction).item(),
                                                 abs=0.01 * norm.item())


def test_imagination_keeps_its_graph_only_when_asked():
    """The default (REINFORCE) rollout holds no graph; with `grad` every imagined state
    after the first depends on the actor's weights."""
    agent = make_agent("dynamics")
    wm, ac = agent.world_model, agent.actor_critic
    h, code = torch.zeros(5, wm.deter), torch.zeros(5, wm.code_dim)
    assert not imagine(wm, ac.act, h, code, 3).feat.requires_grad
    traj = imagine(wm, ac.act, h, code, 3, grad=True)
    reached = torch.autograd.grad(traj.feat[-1].sum(), list(ac.actor.parameters()))
    assert all(r.abs().sum() > 0 for r in reached)


def test_only_the_actor_gradient_changes():
    """The world model's gradients are its own loss's and the critic's its loss's, whatever
    the actor learns from: the imagined rollouts are the same, and the actor loss that runs
    through the world model and the critic leaves their weights alone."""
    batch = continuous_batch()
    grads = {}
    for mode in ("dynamics", "reinforce"):
        agent = make_agent(mode)
        behavior_step(agent, batch)
        grads[mode] = {name: p.grad.clone() for name, p in agent.named_parameters()
                       if p.grad is not None and not name.startswith("actor_critic.actor.")}
    assert grads["dynamics"].keys() == grads["reinforce"].keys()
    assert any(name.startswith("world_model.") for name in grads["dynamics"])
    assert any(name.startswith("actor_critic.critic.") for name in grads["dynamics"])
    for name, grad in grads["dynamics"].items():
        torch.testing.assert_close(grad, grads["reinforce"][name], msg=name)


def test_a_discrete_sample_is_its_one_hot_with_its_probabilities_gradient():
    """Straight-through: the value is the sampled one-hot exactly, the gradient that of the
    (unimix) probabilities; a MultiDiscrete space's segments each pass their own."""
    policy = Categoricals([3, 2], unimix=0.01)
    params = torch.randn(6, 5, generator=torch.Generator().manual_seed(0), requires_grad=True)
    weights = torch.randn(6, 5, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(2)
    action = policy.sample(params)
    torch.manual_seed(2)
    assert torch.equal(action.detach(), policy.sample(params.detach()))  # the same draw
    assert set(action.detach().unique().tolist()) <= {0.0, 1.0}
    for segment in (action.detach()[:, :3], action.detach()[:, 3:]):
        assert torch.equal(segment.sum(-1), torch.ones(6))  # one class in each segment
    through_sample, = torch.autograd.grad((action * weights).sum(), params)
    probs = torch.cat([logp.exp() for logp in policy.segment_logprobs(params)], -1)
    through_probs, = torch.autograd.grad((probs * weights).sum(), params)
    torch.testing.assert_close(through_sample, through_probs)
    assert through_sample.abs().sum() > 0
    assert not policy.sample(params, greedy=True).requires_grad  # the mode passes none


def test_a_discrete_actor_learns_through_the_dynamics_and_nothing_else_changes():
    """On a Discrete space, the actor's gradient through imagination is non-zero, while the
    world model's and the critic's gradients are those REINFORCE's update gives."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    b, t = 4, 16
    batch = Batch(obs={"obs": torch.randn(b, t, OBS, generator=g)},
                  action=F.one_hot(torch.randint(0, 2, (b, t), generator=g), 2).float(),
                  reward=0.1 * torch.randn(b, t, generator=g),
                  cont=torch.ones(b, t), is_first=torch.zeros(b, t))
    grads = {}
    for mode in ("dynamics", "reinforce"):
        cfg = small_config("categorical")
        cfg.ac.actor_grad, cfg.ac.entropy = mode, 0.0  # the gradient is the returns' alone
        torch.manual_seed(0)
        agent = Agent(OBS, ActionCodec(Discrete(2)), cfg)
        for head in (agent.world_model.reward[-1], agent.actor_critic.critic[-1]):
            nn.init.normal_(head.weight, std=0.002)  # zero heads would pass no gradient
        behavior_step(agent, batch)
        grads[mode] = {name: p.grad.clone() for name, p in agent.named_parameters()
                       if p.grad is not None}
    assert grads["dynamics"].keys() == grads["reinforce"].keys()  # no gradient lost
    actor = [name for name in grads["dynamics"] if name.startswith("actor_critic.actor.")]
    assert actor and all(grads["dynamics"][name].abs().sum() > 0 for name in actor)
    assert any(not torch.equal(grads["dynamics"][n], grads["reinforce"][n]) for n in actor)
    others = [name for name in grads["dynamics"] if name not in actor]
    assert any(name.startswith("world_model.") for name in others)
    assert any(name.startswith("actor_critic.critic.") for name in others)
    for name in others:
        torch.testing.assert_close(grads["dynamics"][name], grads["reinforce"][name], msg=name)


def test_an_unknown_actor_gradient_is_refused_by_name():
    cfg = compose_config("ac.actor_grad=backprop")
    with pytest.raises(ConfigError, match=r"ac.actor_grad='backprop' is invalid.*reinforce or "
                                          r"dynamics"):
        validate(cfg)


@pytest.mark.parametrize("env", [["env=pendulum"], []], ids=["pendulum-box", "cartpole-discrete"])
def test_a_real_run_trains_its_actor_through_the_dynamics(tmp_path, env):
    """A real 200-step run on Pendulum-v1 (continuous actions) and on CartPole-v1 (Discrete):
    the setting is kept in the run's config and every update's actor loss and gradient are
    finite and non-zero."""
    events = smoke_run(tmp_path, *env, "ac.actor_grad=dynamics")
    assert "actor_grad: dynamics" in (tmp_path / "run" / "config.yaml").read_text()
    trained = [e for e in events if "loss/actor" in e]
    assert trained
    for event in trained:
        assert math.isfinite(event["loss/actor"])
        assert 0 < event["train/actor_grad_norm"] < math.inf
