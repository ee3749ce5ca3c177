"""The actor-critic's losses against hand computations on a tiny imagined trajectory.

Setting used throughout: the actor's output layer is zeroed, so the policy is uniform over
two actions (log-probability log 1/2, entropy log 2, whatever the unimix); the critic is
zero-initialised, so every value is 0 and its log-probabilities are uniform over the bins.
"""

import math

import pytest
import torch
from gymnasium.spaces import Discrete
from torch import nn

from agent.behavior.actor_critic import ActorCritic, continuation_weights
from agent.behavior.imagination import Trajectory
from envs import ActionCodec
from tests.conftest import small_config

H, N, FEAT = 2, 3, 8
GAMMA, LAM = 0.9, 0.5


def make_actor_critic(**ac) -> ActorCritic:
    cfg = small_config()
    cfg.ac.gamma, cfg.ac.lam = GAMMA, LAM
    for key, value in ac.items():
        setattr(cfg.ac, key, value)
    model = ActorCritic(FEAT, ActionCodec(Discrete(2)), cfg)
    head = model.actor[-1]
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return model


def trajectory() -> Trajectory:
    g = torch.Generator().manual_seed(0)
    action = nn.functional.one_hot(torch.tensor([[0, 1, 0], [1, 1, 0]]), 2).float()
    return Trajectory(torch.randn(H + 1, N, FEAT, generator=g), action)


def hand_returns(reward: torch.Tensor, cont: torch.Tensor) -> torch.Tensor:
    """With every value 0: R_1 = r_2; R_0 = r_1 + γ c_1 λ R_1 (the (1-λ) v term is 0)."""
    r1 = reward[1]
    r0 = reward[0] + GAMMA * cont[1] * LAM * r1
    return torch.stack([r0, r1])


def test_continuation_weights_are_discounted_survival_probabilities():
    cont = torch.tensor([[1.0], [0.5], [0.2]])  # c_0 (replayed), c_1, c_2
    got = continuation_weights(cont, GAMMA)[:, 0]
    # weight_k = c_0 · γ c_1 · ... · γ c_k: s_0 counts fully, later states by their chance
    # of being reached, discounted.
    torch.testing.assert_close(got, torch.tensor([1.0, GAMMA * 0.5]))


@pytest.mark.parametrize("reward_scale", [0.1, 10.0])  # return range below and above 1
def test_actor_loss_is_reinforce_with_percentile_normalised_advantages(reward_scale):
    model = make_actor_critic(entropy=0.01)
    reward = reward_scale * torch.tensor([[1.0, -1.0, 0.5], [0.0, 2.0, -0.5]])
    cont = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.5, 1.0], [1.0, 1.0, 0.0]])
    losses, metrics = model.loss(trajectory(), reward, cont)

    returns = hand_returns(reward, cont)
    low, high = torch.quantile(returns.flatten(), torch.tensor([0.05, 0.95]))
    scale = max(1.0, float(high - low))  # the normaliser's first update takes the range as is
    advantage = returns / scale  # values are 0
    weight = torch.stack([cont[0], GAMMA * cont[0] * cont[1]])
    want = -(weight * (math.log(0.5) * advantage + 0.01 * math.log(2))).mean()
    torch.testing.assert_close(losses["actor"], want)
    torch.testing.assert_close(metrics["return_scale"], torch.tensor(scale))
    torch.testing.assert_close(metrics["imag_advantage"], advantage.abs().mean())


class PerStateLogits(nn.Module):
    """An actor whose logits are free parameters, one set per imagined state, so a gradient
    step on one state's action changes nothing else."""

    def __init__(self):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(H, N, 2))

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.logits


def test_the_actor_makes_actions_with_positive_advantage_more_likely():
    model = make_actor_critic(entropy=0.0)
    model.actor = PerStateLogits()
    traj = trajectory()
    reward = torch.tensor([[1.0, -1.0, 1.0], [0.0, 0.0, 0.0]])
    cont = torch.ones(H + 1, N)
    losses, _ = model.loss(traj, reward, cont)
    losses["actor"].backward()
    with torch.no_grad():
        model.actor.logits -= model.actor.logits.grad
        logp = model.policy.log_prob(model.actor.logits, traj.action)
    # From log 1/2 everywhere: up where the advantage is positive, down where it is negative,
    # unchanged where it is 0.
    changed = torch.sign((logp - math.log(0.5)).round(decimals=6))
    assert torch.equal(changed, torch.sign(hand_returns(reward, cont)))


def test_slow_critic_regulariser_adds_its_weighted_cross_entropy():
    traj = trajectory()
    reward = torch.tensor([[1.0, -1.0, 0.5], [0.0, 2.0, -0.5]])
    cont = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.5, 1.0], [1.0, 1.0, 0.0]])
    without = make_actor_critic(slow_critic_reg=0.0).loss(traj, reward, cont)[0]["critic"]
    with_reg = make_actor_critic(slow_critic_reg=2.0).loss(traj, reward, cont)[0]["critic"]
    # A uniform critic's cross-entropy against any two-hot target is log(bins).
    bins = small_config().model.reward_bins
    weight = torch.stack([cont[0], GAMMA * cont[0] * cont[1]])
    torch.testing.assert_close(with_reg - without, 2.0 * weight.mean() * math.log(bins))


def test_actor_and_critic_losses_reach_only_their_own_network():
    model = make_actor_critic()
    reward = torch.tensor([[1.0, -1.0, 0.5], [0.0, 2.0, -0.5]])
    losses, _ = model.loss(trajectory(), reward, torch.ones(H + 1, N))

    def grads(net):
        return [p.grad for p in net.parameters()]

    losses["actor"].backward(retain_graph=True)
    assert all(g is None for g in grads(model.critic))
    assert any(g is not None and g.abs().sum() > 0 for g in grads(model.actor))
    model.zero_grad(set_to_none=True)
    losses["critic"].backward()
    assert all(g is None for g in grads(model.actor))
    assert any(g is not None and g.abs().sum() > 0 for g in grads(model.critic))


@pytest.mark.parametrize("outscale", [0.01, 1.0])
def test_actor_outscale_sets_how_far_the_first_policy_is_from_centred(outscale):
    """A continuous policy's initial mean is its output layer's: near zero in every state
    at DreamerV3's 0.01, spread over states at PyTorch's default scale."""
    from gymnasium.spaces import Box

    torch.manual_seed(0)
    cfg = small_config()
    cfg.model.actor_outscale = outscale
    model = ActorCritic(FEAT, ActionCodec(Box(-1.0, 1.0, (2,))), cfg)
    feat = torch.randn(256, FEAT)
    mean = model.act(feat, greedy=True)
    bound = 1 / math.sqrt(cfg.model.units)  # PyTorch's default: uniform within ±bound
    assert 0.5 * outscale * bound < model.actor[-1].weight.abs().max() <= outscale * bound
    if outscale < 0.1:
        assert mean.abs().max() < 0.05
    else:
        assert mean.std(0).min() > 0.05  # a different push in different states


def test_the_replay_loss_moves_the_critic_toward_the_real_rewards_return():
    """Two windows of one episode each, every reward 1 and γ = 0.9, so with λ = 1 obs 0's
    target is the discounted sum of the rewards it really got, bootstrapped at the window's
    end; a few steps of the replay loss alone bring the critic's value there."""
    torch.manual_seed(0)
    model = make_actor_critic(lam=1.0, slow_critic_reg=0.0)
    steps = 4
    feat = torch.randn(steps, 2, FEAT)
    reward, cont, is_first = torch.ones(steps, 2), torch.ones(steps, 2), torch.zeros(steps, 2)
    optimizer = torch.optim.Adam(model.critic.parameters(), lr=1e-2)
    for _ in range(300):
        optimizer.zero_grad()
        model.replay_loss(feat, reward, cont, is_first).backward()
        optimizer.step()
    value = model.value(feat).detach()
    # The fixed point: v_3 has no target (the window's end), v_2 = 1 + γ v_3, ...
    for t in range(steps - 1):
        want = sum(GAMMA ** i for i in range(steps - 1 - t)) + GAMMA ** (steps - 1 - t) * value[3]
        torch.testing.assert_close(value[t], want, atol=0.05, rtol=0.02)
    assert (value[0] > 2.0).all()  # from 0: it did move


def test_the_replay_loss_reaches_only_the_critic():
    model = make_actor_critic()
    feat = torch.randn(4, 2, FEAT)
    loss = model.replay_loss(feat, torch.ones(4, 2), torch.ones(4, 2), torch.zeros(4, 2))
    loss.backward()
    assert all(p.grad is None for p in model.actor.parameters())
    assert all(p.grad is None for p in model.slow_critic.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.critic.parameters())


def test_an_update_adds_the_weighted_replay_loss_to_the_critics_gradient_only():
    """The critic's gradient with `ac.replay_value` = w is its imagination gradient plus w
    times the replay loss's, on the same batch and the same imagined rollouts; the actor's is
    unchanged, and w = 0 leaves the term out."""
    from agent.agent import Agent
    from tests.helpers import cartpole_replay

    batch = cartpole_replay(200).sample(4, 16)

    def gradients(weight):
        cfg = small_config()
        cfg.ac.replay_value = weight
        torch.manual_seed(0)
        agent = Agent(4, 2, cfg)
        _, states = agent.world_model_gradients(batch)
        torch.manual_seed(1)  # the same imagined rollouts for every weight
        losses, _ = agent.behavior_gradients(states, batch)
        ac = agent.actor_critic
        return (agent, states, losses, [p.grad.clone() for p in ac.critic.parameters()],
                [p.grad.clone() for p in ac.actor.parameters()])

    _, _, without, critic0, actor0 = gradients(0.0)
    agent, states, with_replay, critic1, actor1 = gradients(0.3)
    assert "critic_replay" not in without and "critic_replay" in with_replay
    ac = agent.actor_critic
    ac.zero_grad(set_to_none=True)
    feat = agent.world_model.feat(states.h, states.quantized.code).detach().transpose(0, 1)
    ac.replay_loss(feat, *(x.transpose(0, 1) for x in
                           (batch.reward, batch.cont, batch.is_first))).backward()
    for g0, g1, p in zip(critic0, critic1, ac.critic.parameters(), strict=True):
        torch.testing.assert_close(g1, g0 + 0.3 * p.grad, atol=1e-6, rtol=1e-5)
    for g0, g1 in zip(actor0, actor1, strict=True):
        torch.testing.assert_close(g1, g0)
    assert any(p.grad.abs().sum() > 0 for p in ac.critic.parameters())
