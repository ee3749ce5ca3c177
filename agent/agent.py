"""The agent's one face: `policy` to act, `train` to learn from a replayed batch."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch
from gymnasium.spaces import Discrete
from torch import Tensor, nn

from agent.behavior.actor_critic import ActorCritic
from agent.behavior.imagination import dream, imagine
from agent.compiling import MaybeCompiled
from agent.config import Config, OptimConfig
from agent.data import Batch, Obs
from agent.model.convnets import prefer_cpu_layout
from agent.model.world_model import WorldModel
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


class Optimizer:
    """Adam with global-norm clipping over one group of modules."""

    def __init__(self, modules: list[nn.Module], cfg: OptimConfig):
        self.params = [p for m in modules for p in m.parameters() if p.requires_grad]
        self.clip = cfg.clip
        self.opt = torch.optim.Adam(self.params, lr=cfg.lr, eps=cfg.eps, foreach=True)

    def step(self, loss: Tensor, losses: dict[str, Tensor]) -> Tensor:
        """Backward, clip, and apply only if the gradient is finite; otherwise raise
        NonFiniteError naming the loss terms at fault, with the weights untouched."""
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(self.params, self.clip, foreach=True)
        if not torch.isfinite(norm):  # the one host sync of an update
            self.opt.zero_grad(set_to_none=True)
            bad = [name for name, v in losses.items() if not torch.isfinite(v)]
            raise NonFiniteError(bad or ["gradient"])
        self.opt.step()
        return norm


class NonFiniteError(ArithmeticError):
    """An update was skipped because a loss or its gradient was not finite."""

    def __init__(self, terms: list[str]):
        super().__init__(f"non-finite {', '.join(terms)}")
        self.terms = terms


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
        wm = self.world_model
        self.model_opt = Optimizer([wm], cfg.train.model_opt)
        self.actor_opt = Optimizer([self.actor_critic.actor], cfg.train.actor_opt)
        self.critic_opt = Optimizer([self.actor_critic.critic], cfg.train.critic_opt)
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
        """One world-model update, then one actor and critic update in imagination.
        Returns metrics as tensors. A non-finite loss or gradient raises NonFiniteError
        before the optimizer it belongs to changes any weight."""
        cfg, wm, ac = self.cfg, self.world_model, self.actor_critic
        scales = cfg.loss_scales
        with self.autocast():
            losses, states = self.world_model_loss(batch)
        model_loss = sum(self._scale(name, scales) * value for name, value in losses.items())
        metrics = {f"loss/{k}": v.detach() for k, v in losses.items()}
        metrics["train/model_grad_norm"] = self.model_opt.step(model_loss, losses)
        metrics.update({f"quant/{k}": v for k, v in states.post.stats.items()})

        h = states.h.detach().flatten(0, 1)
        code = states.post.code.detach().flatten(0, 1)
        start_cont = batch.cont.flatten()
        if cfg.ac.starts:
            pick = torch.randperm(h.shape[0], device=h.device)[:cfg.ac.starts]
            h, code, start_cont = h[pick], code[pick], start_cont[pick]
        with self.autocast():
            traj = imagine(wm, ac.act, h, code, cfg.ac.horizon, self.dream)
            with torch.no_grad():
                reward = wm.reward_mean(traj.feat[1:])
                # The continue probability, not its mode: an expected discount is smoother.
                cont = torch.cat([start_cont[None], wm.cont_prob(traj.feat[1:])], 0)
            ac_losses, ac_metrics = ac.loss(traj, reward, cont)
        metrics["train/actor_grad_norm"] = self.actor_opt.step(ac_losses["actor"], ac_losses)
        metrics["train/critic_grad_norm"] = self.critic_opt.step(ac_losses["critic"], ac_losses)
        ac.update_slow_critic()
        metrics.update({f"loss/{k}": v.detach() for k, v in ac_losses.items()})
        metrics.update({f"train/{k}": v for k, v in ac_metrics.items()})
        return metrics

    def autocast(self) -> torch.autocast:
        """bf16 autocast of the networks when precision=bf16 (a no-op context for fp32)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16,
                              enabled=self.cfg.precision == "bf16")

    @staticmethod
    def _scale(name: str, scales) -> float:
        return scales.quant if name.startswith("quant_") else getattr(scales, name)
