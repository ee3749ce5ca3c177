"""The steps of a greedy MinAtar episode where the action decides whether the game goes
on: holding one action keeps it going `horizon` steps and holding another ends it. Copies
of MinAtar's own game state (without sticky actions) are played ahead to find them; the
checks that examine the model and the actor there (survival_check, deviation_check) start
from these."""

import copy
from collections.abc import Iterator

from agent.agent import Agent
from agent.analysis.greedy_play import GreedyEpisode, GreedyStep
from agent.behavior.policies import Categoricals


def require_one_discrete_action(agent: Agent, check: str) -> None:
    """The checks hold or try one action at a time: a single Discrete space."""
    policy = agent.actor_critic.policy
    if not isinstance(policy, Categoricals) or len(policy.segments) != 1:
        raise SystemExit(f"error: the {check} takes one discrete action at a time; this "
                         f"run's actions are not a single Discrete space")


def held_survival(game, actions: list[int], horizon: int) -> list[bool]:
    """For each of the game's `actions`: whether a copy of `game` (a MinAtar game's own
    state) played `horizon` steps with that action held goes on."""
    survives = []
    for action in actions:
        ahead, ended = copy.deepcopy(game), False
        for _ in range(horizon):
            _, ended = ahead.act(action)
            if ended:
                break
        survives.append(not ended)
    return survives


def decisive_steps(episode: GreedyEpisode, horizon: int
                   ) -> Iterator[tuple[int, GreedyStep, list[bool]]]:
    """(index, step, per action whether the game goes on `horizon` steps with it held) for
    each step of the episode where some held actions go on and others do not. Once the
    generator is exhausted, the episode's `length` counts all its steps; the env is closed
    when it ends or the generator is closed."""
    env = episode.env.unwrapped
    if not hasattr(env, "game") or not hasattr(env, "action_set"):
        episode.env.close()
        raise SystemExit(f"error: this run's env ({episode.agent.cfg.env.id}) is not a "
                         f"MinAtar game, whose state the check copies; run it on an "
                         f"env=minatar run")
    try:
        for t, step in enumerate(episode):
            survives = held_survival(env.game.env, env.action_set, horizon)
            if any(survives) and not all(survives):
                yield t, step, survives
    finally:
        episode.env.close()
