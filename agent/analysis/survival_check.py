"""Where the action decides whether a MinAtar episode goes on: does the world model know
which action keeps it going, and does the actor take that action?

    python -m agent.analysis.survival_check RUN_DIR_OR_CHECKPOINT [--episodes 4]
        [--horizon 8] [--samples 16] [--seed 0]

Greedy episodes are played in the run's own game. At every step a copy of the game (MinAtar's
own state, without sticky actions) is played `horizon` steps ahead with each action held,
which says which held actions keep the episode going. Where some do and others end it, the
action decides: there the world model imagines the same from the agent's state, the prior
alone fed the held action, `samples` times per action, its survival the product of the
continue head's predictions. A model that knows the game rates the surviving actions
higher; an actor that uses the model puts its probability on them. Holding one action is
only one way on: an action that does not survive held may survive followed by others.
"""

from dataclasses import dataclass, field

import torch
from torch import Tensor

from agent.agent import Agent, PolicyState, evaluating
from agent.analysis.decisive_steps import decisive_steps, require_one_discrete_action
from agent.analysis.greedy_play import GreedyEpisode, play_command
from envs import ActionCodec, ObservationSpec


@dataclass
class Decision:
    survives: list[bool]    # per action: the real game goes on for the horizon, it held
    imagined: list[float]   # per action: the survival the model imagines for it
    probs: list[float]      # the actor's probability of each action
    greedy: int             # the action the agent took

    @property
    def model_right(self) -> bool:
        """The actions the model rates likeliest to survive (all of them, where its imagined
        survival ties) do survive."""
        best = max(self.imagined)
        return all(ok for p, ok in zip(self.imagined, self.survives, strict=True) if p == best)

    @property
    def actor_mass(self) -> float:
        """The actor's probability on the actions that survive."""
        return sum(p for p, ok in zip(self.probs, self.survives, strict=True) if ok)


def imagined_survival(agent: Agent, state: PolicyState, actions: int, horizon: int,
                      samples: int) -> Tensor:
    """[actions]: from the agent's state, the prior alone fed each action held for
    `horizon` steps, `samples` times; the mean product of the continue head's
    predictions."""
    wm = agent.world_model
    held = torch.eye(actions, device=agent.device).repeat_interleave(samples, 0)
    start = state.h.expand(len(held), -1), state.code.expand(len(held), -1)
    survival = torch.ones(len(held), device=agent.device)
    # Its own random stream: the episode being played samples its codes from the other.
    with torch.random.fork_rng(devices=[agent.device] if agent.device.type == "cuda" else []):
        torch.manual_seed(0)
        for h, code in wm.dream(*start, [held] * horizon):
            survival = survival * wm.cont_prob(wm.feat(h, code))
    return survival.view(actions, samples).mean(1).cpu()


@dataclass
class SurvivalCheck:
    horizon: int
    returns: list[float]
    steps: int
    decisions: list[Decision] = field(default_factory=list)

    def lines(self) -> list[str]:
        n = len(self.decisions)
        out = [f"{len(self.returns)} greedy episodes (returns "
               f"{' '.join(f'{r:g}' for r in self.returns)}), {self.steps} steps; at {n} "
               f"the action decides whether the game goes on {self.horizon} steps held"]
        if not n:
            return out

        def mean(values: list[float]) -> str:
            return f"{sum(values) / len(values):.3f}" if values else "n/a"

        kept = [p for d in self.decisions for p, ok in zip(d.imagined, d.survives,
                                                           strict=True) if ok]
        ended = [p for d in self.decisions for p, ok in zip(d.imagined, d.survives,
                                                            strict=True) if not ok]
        right = sum(d.model_right for d in self.decisions)
        greedy = sum(d.survives[d.greedy] for d in self.decisions)
        return out + [
            f"  the model: its likeliest survivor survives at {right} of {n} "
            f"({100 * right / n:.0f}%); imagined survival {mean(kept)} for the actions "
            f"that survive, {mean(ended)} for those that end it",
            f"  the actor: its greedy action survives at {greedy} of {n} "
            f"({100 * greedy / n:.0f}%); its mean probability on the surviving actions "
            f"{mean([d.actor_mass for d in self.decisions])}"]


@torch.no_grad()
def check_survival(agent: Agent, codec: ActionCodec, spec: ObservationSpec,
                   episodes: int = 4, horizon: int = 8, samples: int = 16,
                   seed: int = 0) -> SurvivalCheck:
    require_one_discrete_action(agent, "survival check")
    check = SurvivalCheck(horizon, [], 0)
    with evaluating(agent):
        for i in range(episodes):
            play_episode(agent, codec, spec, seed + i, horizon, samples, check)
    return check


def play_episode(agent: Agent, codec: ActionCodec, spec: ObservationSpec, seed: int,
                 horizon: int, samples: int, check: SurvivalCheck) -> None:
    """One greedy episode, its steps counted and its decisive ones added to `check`."""
    actor, policy = agent.actor_critic.actor, agent.actor_critic.policy
    episode = GreedyEpisode(agent, codec, spec, seed)
    for _, step, survives in decisive_steps(episode, horizon):
        imagined = imagined_survival(agent, step.state, len(survives), horizon, samples)
        feat = agent.world_model.feat(step.state.h, step.state.code)
        logp, = policy.segment_logprobs(actor(feat).float())  # as before: fp32 under bf16
        check.decisions.append(Decision(survives, imagined.tolist(), logp[0].exp().tolist(),
                                        step.action))
    check.steps += episode.length
    check.returns.append(episode.ret)


if __name__ == "__main__":
    play_command(__doc__, check_survival, episodes=4, horizon=8, samples=16, seed=0)
