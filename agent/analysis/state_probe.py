"""Does the agent's state know the env's? A linear read-out of the true state from what the
policy acts on (h, the code, both), fitted on some envs' steps and scored on the others'.

    python -m agent.analysis.state_probe RUN_DIR_OR_CHECKPOINT [--envs 16] [--steps 250]
        [--seed 0]

The run's policy (sampled, as in training) plays `--envs` envs for `--steps` steps each;
at every step the env's own state (`env.unwrapped.state`, as gymnasium's classic-control
tasks keep it) is paired with the h and code the policy acted on (h has seen the frames
before this one, the code this one). A ridge regression from those to each state dimension
is fitted on half the envs and scored (R², 1: perfect, 0: no better than the mean, and
the error in the state's units) on the other half, and the other way round. For a run from
pixels this says whether the frames' content reached the model's state: a CartPole policy
from pixels that cannot balance (docs/results/env-targets.md) either lacks the pole's angle
and angular velocity there, or has them and fails to use them. The imagined rows read the
same read-out on the prior's steps 1, 5 and 15 ahead, its codes sampled as imagination
samples them and, apart, its likeliest codes: whether the rollouts the actor learns from
keep the state, and if not, whether the prior's spread or its own error loses it. The
policy's own states set the spread the scores are relative to: compare runs by the error,
not only by R².
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from agent.agent import Agent, evaluating
from agent.analysis.command import heading, loaded, target_parser
from agent.analysis.reward_check import run_from_checkpoint
from agent.loop.acting import ActingPolicy
from agent.loop.driver import Driver
from agent.loop.evaluate import env_interface
from agent.loop.openloop_errors import HORIZONS
from envs import make_vector_env

RIDGE = 1e-3
"""Ridge penalty, relative to the mean feature variance (standardised features)."""


@dataclass
class Fit:
    r2: float    # 1 - residual / variance of the scored steps' state
    rmse: float  # the read-out's error in the state's own units


@dataclass
class StateProbe:
    features: dict[str, list[Fit]]  # feature set -> one fit per state dimension
    spread: list[float]             # the steps' std per state dimension
    samples: int                    # steps, each scored once
    imagined: dict[int, list[Fit]]  # horizon -> the h-and-code read-out on imagined steps
    imagined_likeliest: dict[int, list[Fit]]  # the same, the prior's likeliest codes fed on

    def lines(self, names: list[str] | None = None) -> list[str]:
        names = names or [f"state[{d}]" for d in range(len(self.spread))]
        out = [f"| read from | {' | '.join(names)} |", "|---|" + "---|" * len(names)]
        for name, fits in self.features.items():
            out.append(f"| {name} | " + " | ".join(f"{f.r2:.3f} ({f.rmse:.3g})" for f in fits)
                       + " |")
        for how, imagined in (("", self.imagined),
                              (", likeliest codes", self.imagined_likeliest)):
            for horizon, fits in imagined.items():
                out.append(f"| imagined {horizon} step{'s' * (horizon > 1)} ahead{how} | "
                           + " | ".join(f"{f.r2:.3f} ({f.rmse:.3g})" for f in fits) + " |")
        out.append("| the state's std | " + " | ".join(f"{s:.3g}" for s in self.spread) + " |")
        return out + [f"held-out R² (and error in the state's units) of a ridge read-out over "
                      f"{self.samples} steps: fitted on half the envs, scored on the other "
                      f"half, and the other way round, averaged; imagined: the h-and-code "
                      f"read-out on the prior's steps from each step, fed the actions taken, "
                      f"its codes sampled (as imagination does) or the likeliest (no "
                      f"sampling noise)"]


class Played(NamedTuple):
    """[envs, steps, ...] at each step the policy acted: the env's state then, the h and code
    the policy acted on, the action it took (as the model takes it) and whether the step
    began an episode."""
    state: np.ndarray
    h: np.ndarray
    code: np.ndarray
    action: np.ndarray
    is_first: np.ndarray


def collect(agent: Agent, envs: int, steps: int, seed: int) -> Played:
    cfg = agent.cfg.env
    codec, spec = env_interface(cfg)
    # sync whatever the run used: the truth is read from each env object
    vector = make_vector_env(cfg.id, envs, cfg.kwargs, "sync", **cfg.wrappers())
    if not hasattr(vector.envs[0].unwrapped, "state"):
        vector.close()
        raise SystemExit(f"error: {cfg.id} keeps no `state` on its unwrapped env to read "
                         f"the truth from (gymnasium's classic-control tasks do)")
    driver = Driver(vector, codec, spec, seed)
    policy = ActingPolicy(agent, codec, envs, np.random.default_rng(seed))
    played: list[list[np.ndarray]] = [[] for _ in Played._fields]
    torch.manual_seed(seed)
    with torch.no_grad():
        for _ in range(steps):
            state = [np.array(env.unwrapped.state, dtype=np.float64) for env in vector.envs]
            is_first = np.array(driver.is_first, dtype=bool)
            driver.step(policy)
            after = policy.state
            for column, value in zip(played, (np.stack(state), after.h, after.code,
                                              after.action, is_first), strict=True):
                column.append(value if isinstance(value, np.ndarray)
                              else value.float().cpu().numpy())
    vector.close()
    return Played(*(np.stack(column, 1) for column in played))


class ReadOut(NamedTuple):
    """A ridge read-out: features standardised and the target centred on the rows it was
    fitted on, so that the intercept (their mean) is not shrunk."""
    mean: np.ndarray
    std: np.ndarray
    offset: np.ndarray
    weights: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray) -> "ReadOut":
        mean, std = x.mean(0), x.std(0) + 1e-8
        z = (x - mean) / std
        offset = y.mean(0)
        weights = np.linalg.solve(z.T @ z + RIDGE * len(z) * np.eye(z.shape[1]),
                                  z.T @ (y - offset))
        return cls(mean, std, offset, weights)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std @ self.weights + self.offset


def scores(pred: np.ndarray, true: np.ndarray) -> list[Fit]:
    residual = ((pred - true) ** 2).mean(0)
    variance = true.var(0)
    return [Fit(float(1 - r / v) if v > 0 else float("nan"), float(np.sqrt(r)))
            for r, v in zip(residual, variance, strict=True)]


def held_out_fits(x: np.ndarray, y: np.ndarray, fit: np.ndarray) -> list[Fit]:
    """A read-out from x [N, F] to each column of y [N, D], fitted where `fit`, scored
    elsewhere."""
    return scores(ReadOut.fit(x[fit], y[fit])(x[~fit]), y[~fit])


def both_folds(x: np.ndarray, y: np.ndarray, fold: np.ndarray) -> list[Fit]:
    """held_out_fits fitted on `fold` and scored on the rest, and the other way round,
    averaged: every step is scored once."""
    return averaged(held_out_fits(x, y, fold), held_out_fits(x, y, ~fold))


def rows(x: np.ndarray) -> np.ndarray:
    """[envs, steps, F] -> [envs * steps, F]."""
    return x.reshape(-1, x.shape[-1])


@torch.no_grad()
def imagined_fits(agent: Agent, played: Played, read: ReadOut, scored: np.ndarray,
                  horizon: int, likeliest: bool = False) -> list[Fit]:
    """`read` (an h-and-code read-out fitted on other envs' real steps) on the `scored`
    envs' imagined steps: from each step t, `horizon` prior steps fed the actions taken at
    t … t + horizon - 1 (as imagination rolls), scored against the state at t + horizon
    where no episode began in between. The prior's codes are sampled, or with `likeliest`
    its most probable ones."""
    wm = agent.world_model
    reach = played.state.shape[1] - horizon  # starts that have `horizon` steps after them

    def starting(x: np.ndarray, shift: int = 0) -> torch.Tensor:
        part = x[scored][:, shift:shift + reach]
        return torch.as_tensor(part.reshape(-1, *part.shape[2:]), device=agent.device)

    actions = (starting(played.action, k) for k in range(horizon))
    with evaluating(wm):
        *_, (h, code) = wm.dream(starting(played.h), starting(played.code), actions,
                                 likeliest)
    pred = read(torch.cat([h, code], -1).float().cpu().numpy())
    true = rows(played.state[scored][:, horizon:])
    crossed = np.stack([played.is_first[scored][:, k:k + reach]
                        for k in range(1, horizon + 1)]).any(0).reshape(-1)
    return scores(pred[~crossed], true[~crossed])


def averaged(one: list[Fit], other: list[Fit]) -> list[Fit]:
    return [Fit((a.r2 + b.r2) / 2, (a.rmse + b.rmse) / 2) for a, b in zip(one, other,
                                                                           strict=True)]


def probe_state(agent: Agent, envs: int = 16, steps: int = 250, seed: int = 0) -> StateProbe:
    if envs < 2:
        raise SystemExit("error: the read-out is fitted on some envs and scored on the "
                         "others; use --envs 2 or more")
    played = collect(agent, envs, steps, seed)
    state, h, code = played.state, played.h, played.code
    first_half = np.arange(envs) < envs // 2
    fold = np.broadcast_to(first_half[:, None], state.shape[:2])
    flat = {"h": h, "code": code, "h and code": np.concatenate([h, code], -1)}
    y, fold = rows(state), fold.reshape(-1)
    fits = {name: both_folds(rows(x), y, fold) for name, x in flat.items()}
    halves = (first_half, ~first_half)
    reads = [ReadOut.fit(rows(flat["h and code"][half]), rows(state[half])) for half in halves]
    def imagined(likeliest: bool) -> dict[int, list[Fit]]:
        return {k: averaged(*(imagined_fits(agent, played, read, ~half, k, likeliest)
                              for read, half in zip(reads, halves, strict=True)))
                for k in HORIZONS if k < steps}

    return StateProbe(fits, [float(s) for s in y.std(0)], len(y), imagined=imagined(False),
                      imagined_likeliest=imagined(True))


CARTPOLE = ["x", "x_dot", "theta", "theta_dot"]


def main() -> None:
    parser = target_parser(__doc__)
    parser.add_argument("--envs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    agent, _, env_steps = run_from_checkpoint(loaded(args.target))
    result = probe_state(agent, args.envs, args.steps, args.seed)
    names = CARTPOLE if agent.cfg.env.id == "CartPole-v1" else None
    print(heading(args.target, env_steps))
    print("\n".join(result.lines(names)))


if __name__ == "__main__":
    main()
