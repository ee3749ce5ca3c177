"""The agent's one face: `policy` to act, `train_step` to learn from a replayed batch."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch
from gymnasium.spaces import Discrete
from torch import Tensor, nn

from agent.behavior.actor_critic import ActorCritic
from agent.behavior.imagination import dream, imagine
from agent.compiling import MaybeCompiled
from agent.config import Config, LossScales
from agent.data import Batch, Obs
from agent.errors import ConfigError
from agent.model.convnets import prefer_cpu_layout
from agent.model.world_model import ObservedStates, WorldModel
from agent.optim import NonFiniteError, Optimizer, Optimizers, apply_updates
from envs import ActionCodec
from envs.observations import ObservationSpec, vector_spec


class PolicyState(NamedTuple):
    h: Tensor       # [N, deter]
    code: Tensor    # [N, code_dim]  c_{t-1}
    action: Tensor  # [N, act_dim]   a_{t-1}


@contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """Eval mode for the duration: acting must not update quantizer state (VQ's EMA
    codebook, usage windows) with the data of single env steps."""
    was_training = module.training
    module.train(False)
    try:
        yield
    finally:
        module.train(was_training)


class Agent(nn.Module):
    def __init__(self, observations: ObservationSpec | int, actions: ActionCodec | int,
                 cfg: Config, device: torch.device | str = "cpu"):
        """`observations`: the env's observation spec, or d for d-dim vectors (key `obs`);
        `actions`: the env's action codec, or n for a Discrete(n) space."""
        super().__init__()
        self.cfg = cfg
        spec = observations if isinstance(observations, ObservationSpec) else \
            vector_spec(observations)
        codec = actions if isinstance(actions, ActionCodec) else ActionCodec(Discrete(actions))
        self.act_dim = codec.size
        self.world_model = WorldModel(spec, codec.size, cfg)
        self.actor_critic = ActorCritic(self.world_model.feat_dim, codec, cfg)
        self.to(device)  # before the optimizers take the parameters
        prefer_cpu_layout(self.world_model)
        wm, ac = self.world_model, self.actor_critic
        self.scales = scales_of([*wm.LOSSES, "quant"], cfg.loss_scales)
        # A module, so that the agent's state_dict holds the optimizers' state too.
        self.optimizers = Optimizers({"model": Optimizer([wm], cfg.train.model_opt),
                                      "actor": Optimizer([ac.actor], cfg.train.actor_opt),
                                      "critic": Optimizer([ac.critic], cfg.train.critic_opt)})
        # The two parts where compiling wins (benchmarks/speed.py): the world-model loss,
        # whose sequence loop has many small ops, and one imagination step.
        self.world_model_loss = MaybeCompiled(wm.loss, cfg.compile)
        self.dream = MaybeCompiled(dream, cfg.compile)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def initial_state(self, num_envs: int) -> PolicyState:
        wm, dev = self.world_model, self.device
        return PolicyState(torch.zeros(num_envs, wm.deter, device=dev),
                           torch.zeros(num_envs, wm.code_dim, device=dev),
                           torch.zeros(num_envs, self.act_dim, device=dev))

    @torch.inference_mode()
    def policy(self, obs: Obs, is_first: Tensor, state: PolicyState,
               greedy: bool = False) -> tuple[Tensor, PolicyState]:
        """obs {key: [N, *shape]}, is_first [N] -> encoded actions [N, act_dim] and the next
        state.
        The state is reset where is_first is set, exactly as in training."""
        wm = self.world_model
        keep = (1.0 - is_first.float()).unsqueeze(-1)
        with evaluating(self):
            h = wm.step(state.h * keep, state.code * keep, state.action * keep)
            code = wm.encode(obs).code
            action = self.actor_critic.act(wm.feat(h, code), greedy)
        return action, PolicyState(h, code, action)

    def train_step(self, batch: Batch) -> dict[str, Tensor]:
        """One update of the world model, the actor and the critic, all or nothing: every
        gradient is computed from the current weights first, and the optimizers step only if
        every loss and gradient is finite; otherwise NonFiniteError names the terms at fault
        and no weight has changed (nor what the quantizer learns in its forward pass, such
        as VQ's EMA codebook). Returns metrics as tensors."""
        self.zero_grad(set_to_none=True)
        quantizer = self.world_model.quantizer
        learned = quantizer.learned_state()  # the forward pass moves it: put back if skipped
        model_losses, states = self.world_model_gradients(batch)
        behavior_losses, behavior_metrics = self.behavior_gradients(states, batch)
        try:
            norms = apply_updates(self.optimizers, [model_losses, behavior_losses])
        except NonFiniteError:
            quantizer.restore(learned)
            raise
        losses = model_losses | behavior_losses
        self.actor_critic.after_update()
        return {**{f"loss/{k}": v.detach() for k, v in losses.items()},
                **{f"train/{name}_grad_norm": norm for name, norm in norms.items()},
                **{f"quant/{k}": v for k, v in states.quantized.stats.items()},
                **{f"train/{k}": v for k, v in behavior_metrics.items()}}

    def world_model_gradients(self, batch: Batch) -> tuple[dict[str, Tensor], ObservedStates]:
        """The world model's loss terms on a batch, and their scaled sum backpropagated
        (gradients only: weights change when the update is applied). The first batch also
        starts what starts from data (WorldModel.start_from)."""
        self.world_model.start_from(batch.obs)
        with self.autocast():
            losses, states = self.world_model_loss(batch)
        scale = self.scales
        sum(scale["quant" if name.startswith("quant_") else name] * value
            for name, value in losses.items()).backward()
        return losses, states

    def behavior_gradients(self, states: ObservedStates, batch: Batch
                           ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Imagine from the observed states of `batch` (detached) and backpropagate the
        actor and critic losses (gradients only)."""
        cfg, wm, ac = self.cfg, self.world_model, self.actor_critic
        h = states.h.detach().flatten(0, 1)
        code = states.quantized.code.detach().flatten(0, 1)
        start_cont = batch.cont.flatten()
        if cfg.ac.starts:
            pick = torch.randperm(h.shape[0], device=h.device)[:cfg.ac.starts]
            h, code, start_cont = h[pick], code[pick], start_cont[pick]
        with self.autocast():
            traj = imagine(wm, ac.act, h, code, cfg.ac.horizon, self.dream, ac.dynamics_grad)
            with torch.set_grad_enabled(ac.dynamics_grad):
                reward = wm.reward_mean(traj.feat[1:])
            with torch.no_grad():
                # The continue probability, not its mode: an expected discount is smoother.
                # (Detached: torch's FLOP counter, in benchmarks/speed.py, fails on a module
                # called under no_grad with inputs that carry a graph.)
                cont = torch.cat([start_cont[None], wm.cont_prob(traj.feat[1:].detach())], 0)
            losses, metrics = ac.loss(traj, reward, cont)
            critic = losses["critic"]
            if cfg.ac.replay_value:
                replayed = wm.feat(states.h, states.quantized.code).detach().transpose(0, 1)
                losses["critic_replay"] = ac.replay_loss(
                    replayed, *(x.transpose(0, 1) for x in
                                (batch.reward, batch.cont, batch.is_first)))
                critic = critic + cfg.ac.replay_value * losses["critic_replay"]
        # Actor and critic share no weights. An actor loss through the dynamics also depends
        # on the world model's and the critic's weights, which it must not move.
        losses["actor"].backward(inputs=list(ac.actor.parameters()))
        critic.backward()
        return losses, metrics

    def autocast(self) -> torch.autocast:
        """bf16 autocast of the networks when precision=bf16 (a no-op context for fp32)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16,
                              enabled=self.cfg.precision == "bf16")


def scales_of(terms: list[str], scales: LossScales) -> dict[str, float]:
    """Each loss term's scale from the config; a term without one stops the agent's
    construction, naming it."""
    missing = [term for term in terms if not hasattr(scales, term)]
    if missing:
        raise ConfigError(f"loss term {missing[0]!r} has no scale: add loss_scales."
                          f"{missing[0]} to the config (agent/config.py, LossScales)")
    return {term: float(getattr(scales, term)) for term in terms}
