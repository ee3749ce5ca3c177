"""Does stepping off the policy pay in imagination, where the real game says it would?

    python -m agent.analysis.deviation_check RUN_DIR_OR_CHECKPOINT [--episodes 2]
        [--horizon 8] [--samples 32] [--seed 0]

The actor learns from the imagined return of the action it tried, the policy choosing the
rest, against the critic's value. Greedy episodes are played in the run's MinAtar game; at
each step where holding one action keeps the game going `horizon` steps and holding
another ends it (agent/analysis/decisive_steps.py), the world model imagines, `samples`
times per action over the actor's own horizon (`ac.horizon`), the λ-return of
 - each first action, the actor sampling the rest: what a one-step change of the policy
   would earn, which is all the actor's gradient sees;
 - each action held throughout: what a sustained change would earn.
The steps are reported in two groups: those in the last `horizon` steps before a greedy
episode's game over, where the greedy play itself went on to lose, and the rest, where it
went on (there a one-step deviation the policy recovers from costs nothing, whatever the
model knows). Before a game over, held returns that favour the surviving actions with
one-step returns that do not mean that the saving move takes several steps off the
policy, which the policy's own continuation undoes in imagination: a gradient from single
sampled deviations does not find it.
"""

from dataclasses import dataclass, field

import torch
from torch import Tensor

from agent.agent import Agent, PolicyState, evaluating
from agent.analysis.decisive_steps import decisive_steps, require_one_discrete_action
from agent.analysis.greedy_play import GreedyEpisode, play_command
from agent.behavior.returns import lambda_return
from envs import ActionCodec, ObservationSpec


def imagined_returns(agent: Agent, state: PolicyState, actions: int, samples: int,
                     held: bool) -> Tensor:
    """[actions]: the mean imagined λ-return over `samples` rollouts of the actor's horizon
    from the agent's state, each action taken first and then held (`held`) or followed
    by the actor's sampled actions, bootstrapped on the critic as in training."""
    wm, ac, cfg = agent.world_model, agent.actor_critic, agent.cfg.ac
    first = torch.eye(actions, device=agent.device).repeat_interleave(samples, 0)
    h, code = state.h.expand(len(first), -1), state.code.expand(len(first), -1)
    feats = [wm.feat(h, code)]
    for k in range(cfg.horizon):
        action = first if k == 0 or held else ac.act(feats[-1])
        h = wm.step(h, code, action)
        code = wm.sample_code(h)
        feats.append(wm.feat(h, code))
    feat = torch.stack(feats)
    returns = lambda_return(wm.reward_mean(feat[1:]), wm.cont_prob(feat[1:]),
                            ac.value(feat), cfg.gamma, cfg.lam)
    return returns[0].view(actions, samples).mean(1)


@dataclass
class Deviation:
    survives: list[bool]   # per action: the real game goes on for the horizon, it held
    one_step: list[float]  # per action: imagined return, taken once, then the policy
    held: list[float]      # per action: imagined return, held throughout
    before_loss: bool = False  # within the horizon before the greedy episode's game over


def best_survives(survives: list[bool], returns: list[float]) -> bool:
    """The actions with the highest return (all of them, where it ties) survive."""
    best = max(returns)
    return all(ok for r, ok in zip(returns, survives, strict=True) if r == best)


def survivor_margin(survives: list[bool], returns: list[float]) -> float:
    """The best surviving action's return over the best ending one's."""
    return (max(r for r, ok in zip(returns, survives, strict=True) if ok)
            - max(r for r, ok in zip(returns, survives, strict=True) if not ok))


@dataclass
class DeviationCheck:
    horizon: int
    scale: float  # the actor's return scale: its advantages are returns over this
    returns: list[float] = field(default_factory=list)
    steps: int = 0
    deviations: list[Deviation] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{len(self.returns)} greedy episodes (returns "
               f"{' '.join(f'{r:g}' for r in self.returns)}), {self.steps} steps; at "
               f"{len(self.deviations)} holding one action keeps the game going "
               f"{self.horizon} steps and holding another ends it; return scale "
               f"{self.scale:.3f}"]
        groups = [(f"in the last {self.horizon} steps before a game over",
                   [d for d in self.deviations if d.before_loss]),
                  ("elsewhere, where the greedy play went on",
                   [d for d in self.deviations if not d.before_loss])]
        for where, group in groups:
            out.append(f"  {len(group)} {where}:")
            for name in ("one_step", "held") if group else ():
                out.append(f"    each action {HOW[name]}: " + summary(
                    [d.survives for d in group], [getattr(d, name) for d in group],
                    self.scale))
        return out


HOW = {"one_step": "taken once, the policy after", "held": "held throughout"}


def summary(survives: list[list[bool]], returns: list[list[float]], scale: float) -> str:
    n = len(returns)
    right = sum(map(best_survives, survives, returns))
    margin = sorted(map(survivor_margin, survives, returns))
    spread = sum(max(r) - min(r) for r in returns) / n
    return (f"the highest imagined return is a surviving action's at {right} of {n} "
            f"({100 * right / n:.0f}%); survivors' margin median {margin[n // 2]:+.3f}; "
            f"mean spread over actions {spread:.3f} ({spread / scale:.3f} of the return "
            f"scale)")


@torch.no_grad()
def check_deviations(agent: Agent, codec: ActionCodec, spec: ObservationSpec,
                     episodes: int = 2, horizon: int = 8, samples: int = 32,
                     seed: int = 0) -> DeviationCheck:
    require_one_discrete_action(agent, "deviation check")
    ac = agent.actor_critic
    check = DeviationCheck(horizon, float(ac.retnorm.scale()))
    with evaluating(agent), torch.random.fork_rng(
            devices=[agent.device] if agent.device.type == "cuda" else []):
        torch.manual_seed(seed)  # the imagination's own stream; the episodes have theirs
        for i in range(episodes):
            episode, found = GreedyEpisode(agent, codec, spec, seed + i), []
            for t, step, survives in decisive_steps(episode, horizon):
                n = len(survives)
                one_step = imagined_returns(agent, step.state, n, samples, held=False)
                held = imagined_returns(agent, step.state, n, samples, held=True)
                found.append((t, Deviation(survives, one_step.tolist(), held.tolist())))
            for t, deviation in found:
                deviation.before_loss = (episode.terminated
                                         and t >= episode.length - horizon)
                check.deviations.append(deviation)
            check.steps += episode.length
            check.returns.append(episode.ret)
    return check


if __name__ == "__main__":
    play_command(__doc__, check_deviations, episodes=2, horizon=8, samples=32, seed=0)
