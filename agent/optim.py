"""Adam with global-norm (and optional adaptive) clipping per parameter group, and one update
applied to every group or to none: a non-finite loss or gradient anywhere leaves every weight
as it was."""

import torch
from torch import Tensor, nn

from agent.config import OptimConfig


class NonFiniteError(ArithmeticError):
    """An update was skipped because a loss or its gradient was not finite."""

    def __init__(self, terms: list[str]):
        super().__init__(f"non-finite {', '.join(terms)}")
        self.terms = terms


AGC_FLOOR = 1e-3
"""The smallest weight norm adaptive clipping measures against, so that a tensor that starts
at zero (a bias, a zero-initialised head) can still move."""


class Optimizer:
    """Adam with global-norm clipping over one group of modules, optional adaptive clipping
    per weight tensor, and an optional linear warm-up of the learning rate."""

    def __init__(self, modules: list[nn.Module], cfg: OptimConfig):
        self.params = [p for m in modules for p in m.parameters() if p.requires_grad]
        self.max_norm, self.lr, self.warmup, self.agc = cfg.clip, cfg.lr, cfg.warmup, cfg.agc
        self.adam = torch.optim.Adam(self.params, lr=cfg.lr, eps=cfg.eps, foreach=True)
        self.updates = 0  # steps taken: where the warm-up stands

    def clip_gradients(self) -> Tensor:
        """Clip the group's gradient to `max_norm`, then each tensor's to `agc` times its
        weight norm (with agc > 0); returns the group's norm before any clipping."""
        norm = nn.utils.clip_grad_norm_(self.params, self.max_norm, foreach=True)
        if self.agc > 0:
            self.clip_adaptively()
        return norm

    def clip_adaptively(self) -> None:
        params = [p for p in self.params if p.grad is not None]
        if not params:
            return
        grads = [p.grad for p in params]
        with torch.no_grad():
            weight_norms = torch._foreach_norm(params)
            grad_norms = torch._foreach_norm(grads)
            bounds = torch._foreach_mul(torch._foreach_clamp_min(weight_norms, AGC_FLOOR), self.agc)
            scales = torch._foreach_clamp_max(
                torch._foreach_div(bounds, torch._foreach_add(grad_norms, 1e-12)), 1.0)
            torch._foreach_mul_(grads, scales)

    def rate(self) -> float:
        """The learning rate of the next update."""
        if self.updates >= self.warmup:
            return self.lr
        return self.lr * (self.updates + 1) / self.warmup

    def step(self) -> None:
        """One Adam step at the warm-up's rate. Only applied updates count (a skipped one
        never gets here), so `updates` may trail the run's update counter."""
        for group in self.adam.param_groups:
            group["lr"] = self.rate()
        self.adam.step()
        self.updates += 1

    def state_dict(self) -> dict:
        return {"adam": self.adam.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        if "adam" not in state:  # saved before the warm-up existed: Adam's state alone
            state = {"adam": state, "updates": adam_steps(state)}
        self.adam.load_state_dict(state["adam"])
        self.updates = state["updates"]


def adam_steps(state: dict) -> int:
    """The updates an Adam state_dict has taken (0 before the first)."""
    steps = [float(s["step"]) for s in state["state"].values() if "step" in s]
    return int(max(steps, default=0))


class Optimizers(nn.Module):
    """Named optimizers held as a module, so that the owner's state_dict carries their state
    (under `<name>._extra_state`) beside the weights they train."""

    def __init__(self, optimizers: dict[str, Optimizer]):
        super().__init__()
        self.by_name = optimizers

    def __getitem__(self, name: str) -> Optimizer:
        return self.by_name[name]

    def items(self):
        return self.by_name.items()

    def get_extra_state(self) -> dict:
        return {name: opt.state_dict() for name, opt in self.by_name.items()}

    def set_extra_state(self, state: dict) -> None:
        for name, opt in self.by_name.items():
            opt.load_state_dict(state[name])


def apply_updates(optimizers: Optimizers, stages: list[dict[str, Tensor]]
                  ) -> dict[str, Tensor]:
    """Clip every group's gradient and step every optimizer, only if all gradient norms are
    finite. Otherwise drop the gradients and raise NonFiniteError naming the non-finite
    loss terms of the earliest stage that has any (`stages` in the order they were computed:
    a bad world model makes imagination bad too), or else the groups whose gradient was.
    Returns each group's gradient norm before clipping."""
    norms = {name: opt.clip_gradients() for name, opt in optimizers.items()}
    if not torch.isfinite(torch.stack(list(norms.values()))).all():  # the one host sync
        for _, opt in optimizers.items():
            opt.adam.zero_grad(set_to_none=True)
        bad = [[name for name, value in losses.items() if not torch.isfinite(value)]
               for losses in stages]
        groups = [f"{name} gradient" for name, n in norms.items() if not torch.isfinite(n)]
        raise NonFiniteError(next((terms for terms in bad if terms), groups))
    for _, opt in optimizers.items():
        opt.step()
    return norms
