"""Actor and critic trained on imagined trajectories (DreamerV3-style).

Actor: REINFORCE with advantages (R_k - v_k) / max(1, P95 - P5) plus an entropy bonus; or
(`ac.actor_grad=dynamics`) the normalised λ-returns themselves, whose gradient runs back
through the imagined rewards, values and dynamics into the actions (reparameterised, or
straight-through one-hots for discrete actions).
Critic: two-hot regression of λ-returns, regularised toward a slow (EMA) copy of itself;
optionally also of the real rewards' λ-returns along the replayed windows (`replay_loss`).
"""

import copy

import torch
from torch import Tensor, nn

from agent.behavior.imagination import Trajectory
from agent.behavior.policies import make_policy
from agent.behavior.returns import ReturnNormalizer, lambda_return, replay_lambda_return
from agent.config import Config
from agent.distributions import TwoHot
from agent.model.networks import mlp
from envs import ActionCodec


class ActorCritic(nn.Module):
    def __init__(self, feat_dim: int, codec: ActionCodec, cfg: Config):
        super().__init__()
        m, self.cfg = cfg.model, cfg.ac
        self.policy = make_policy(codec, self.cfg.unimix)
        self.actor = mlp(feat_dim, m.units, m.layers, out=self.policy.size,
                         outscale=m.actor_outscale)
        self.critic = mlp(feat_dim, m.units, m.layers, out=m.reward_bins,
                          outscale=m.critic_outscale)
        self.slow_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.twohot = TwoHot(m.reward_bins)
        self.retnorm = ReturnNormalizer(self.cfg.retnorm_decay, self.cfg.retnorm_low,
                                        self.cfg.retnorm_high)
        self.next_range: Tensor | None = None  # the return range the last loss saw

    def act(self, feat: Tensor, greedy: bool = False) -> Tensor:
        """Encoded actions [..., act_dim]: sampled, or the mode when greedy."""
        return self.policy.sample(self.actor(feat), greedy)

    def value(self, feat: Tensor, slow: bool = False) -> Tensor:
        net = self.slow_critic if slow else self.critic
        return self.twohot.mean(net(feat).float())

    @property
    def dynamics_grad(self) -> bool:
        """Whether the actor learns by backpropagating through imagination (`loss` then
        needs the trajectory and rewards with their graph)."""
        return self.cfg.actor_grad == "dynamics"

    def loss(self, traj: Trajectory, reward: Tensor, cont: Tensor
             ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """traj from `imagine`; reward [H, N] predicted at s_1..s_H; cont [H + 1, N] with
        cont[0] the start state's own (from replay) and cont[1:] predicted.
        With `ac.actor_grad=dynamics`, traj and reward carry their graph back to the actions,
        and the actor loss also depends on the critic's and the world model's weights:
        backpropagate it into the actor's alone."""
        cfg = self.cfg
        feat, action = traj.feat.detach(), traj.action.detach()
        critic_logits = self.critic(feat).float()  # once: values (detached) and the loss
        with torch.no_grad():
            value = self.twohot.mean(critic_logits.detach())
            returns = lambda_return(reward.detach(), cont[1:], value, cfg.gamma, cfg.lam)
            # Kept only once the update is applied (after_update): a skipped update must
            # leave the normaliser as it was.
            self.next_range = self.retnorm.next_range(returns)
            scale = self.retnorm.scale(self.next_range)
            advantage = (returns - value[:-1]) / scale
            weight = continuation_weights(cont, cfg.gamma)
            slow_target = self.value(feat[:-1], slow=True)

        params = self.actor(feat[:-1])  # [H, N, policy.size]
        entropy = self.policy.entropy(params)
        if self.dynamics_grad:
            # The same returns with their graph back to the actions, through the critic's
            # values at the imagined states (the agent keeps its gradient from the weights).
            value_path = self.twohot.mean(self.critic(traj.feat).float())
            objective = lambda_return(reward, cont[1:], value_path, cfg.gamma, cfg.lam) / scale
        else:
            objective = self.policy.log_prob(params, action) * advantage
        actor = -(weight * (objective + cfg.entropy * entropy)).mean()

        critic_logp = torch.log_softmax(critic_logits[:-1], -1)
        critic = (weight * (self.twohot.log_loss(critic_logp, returns) + cfg.slow_critic_reg
                            * self.twohot.log_loss(critic_logp, slow_target))).mean()
        metrics = {
            "imag_return": returns.mean(),
            "imag_value": value.mean(),
            "imag_advantage": advantage.abs().mean(),
            "imag_reward": reward.mean(),
            "imag_cont": cont[1:].mean(),
            "return_scale": scale,
            "actor_entropy": entropy.mean(),
        }
        return {"actor": actor, "critic": critic}, metrics

    def replay_loss(self, feat: Tensor, reward: Tensor, cont: Tensor, is_first: Tensor
                    ) -> Tensor:
        """The critic's loss on the replayed windows themselves (DreamerV3's replay value
        loss): two-hot regression of λ-returns of the real rewards, bootstrapped on its own
        values, plus the same slow-critic regulariser. Grounds the values of the states the
        agent really visits in the rewards it really got, where the imagined returns rest
        on the model's. All time-major: feat [T, N, feat_dim] (detached), the rest [T, N]."""
        cfg = self.cfg
        logits = self.critic(feat).float()
        with torch.no_grad():
            value = self.twohot.mean(logits.detach())
            returns, weight = replay_lambda_return(reward, cont, is_first, value, cfg.gamma,
                                                   cfg.lam)
            slow_target = self.value(feat[:-1], slow=True)
        logp = torch.log_softmax(logits[:-1], -1)
        return (weight * (self.twohot.log_loss(logp, returns) + cfg.slow_critic_reg
                          * self.twohot.log_loss(logp, slow_target))).mean()

    @torch.no_grad()
    def after_update(self) -> None:
        """What follows an applied update: keep the return range its loss saw, and move the
        slow critic toward the critic."""
        self.retnorm.keep(self.next_range)
        rate = self.cfg.slow_critic_rate
        torch._foreach_lerp_(list(self.slow_critic.parameters()),
                             list(self.critic.parameters()), rate)


def continuation_weights(cont: Tensor, gamma: float) -> Tensor:
    """cont [H + 1, N] -> the weight of s_0 .. s_{H-1} in the losses [H, N]: the chance of
    still being in the episode there, discounted, c_0 · γ c_1 · ... · γ c_k."""
    return torch.cumprod(gamma * cont[:-1], 0) / gamma
