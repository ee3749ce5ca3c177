"""Greedy play in a checkpoint's own env, one step at a time, for checks that read the game
itself while the agent plays (breakout_check, survival_check, deviation_check)."""

from collections.abc import Iterator
from dataclasses import dataclass

import gymnasium as gym
import torch

from agent.agent import Agent, PolicyState
from agent.analysis.command import heading, loaded, target_parser
from agent.loop.evaluate import agent_from_checkpoint
from envs import ActionCodec, ObservationSpec
from envs.make import make_env


@dataclass
class GreedyStep:
    state: PolicyState  # the agent's, having seen this step's observation
    action: int         # the env action it takes (the greedy one)


class GreedyEpisode:
    """One greedy episode in the agent's own env (its config's id, kwargs and wrappers),
    played by iterating over it: each item comes before its step is taken, so `env` shows
    the game as the agent sees it. After the loop, `ret`, `length` and `terminated` (ended
    by the game, not by a time limit) say how it ended, and `env` shows the final state."""

    def __init__(self, agent: Agent, codec: ActionCodec, spec: ObservationSpec, seed: int):
        env_cfg = agent.cfg.env
        self.agent, self.codec, self.spec, self.seed = agent, codec, spec, seed
        self.env: gym.Env = make_env(env_cfg.id, env_cfg.kwargs, **env_cfg.wrappers())
        self.ret, self.length, self.terminated = 0.0, 0, False

    def __iter__(self) -> Iterator[GreedyStep]:
        agent, device = self.agent, self.agent.device
        self.ret, self.length, self.terminated = 0.0, 0, False  # each pass plays anew
        obs, _ = self.env.reset(seed=self.seed)
        state, first = agent.initial_state(1), torch.ones(1, device=device)
        randomness = EpisodeRandom(self.seed, device)
        while True:
            obs_t = {k: v.to(device) for k, v in self.spec.to_tensors(obs[None]).items()}
            with torch.no_grad(), randomness:
                action, state = agent.policy(obs_t, first, state, greedy=True)
            env_action = int(self.codec.to_env(action.cpu())[0])
            yield GreedyStep(state, env_action)
            obs, reward, terminated, truncated, _ = self.env.step(env_action)
            self.ret, first = self.ret + float(reward), torch.zeros(1, device=device)
            self.length += 1
            if terminated or truncated:
                self.terminated = terminated
                return


class EpisodeRandom:
    """A stochastic posterior (categorical) samples its codes when the agent acts: within
    this context torch draws from the episode's own seeded stream, so that an episode
    repeats exactly whatever its caller samples between steps, and the caller's stream is
    left as it was."""

    def __init__(self, seed: int, device: torch.device):
        self.cuda = device.type == "cuda"
        with torch.random.fork_rng(devices=[device] if self.cuda else []):
            torch.manual_seed(seed)
            self.saved = self.states()

    def states(self) -> tuple:
        return torch.get_rng_state(), torch.cuda.get_rng_state() if self.cuda else None

    def __enter__(self) -> None:
        self.callers = self.states()
        torch.set_rng_state(self.saved[0])
        if self.cuda:
            torch.cuda.set_rng_state(self.saved[1])

    def __exit__(self, *exc) -> None:
        self.saved = self.states()
        torch.set_rng_state(self.callers[0])
        if self.cuda:
            torch.cuda.set_rng_state(self.callers[1])


def play_command(description: str, check, **options: int) -> None:
    """The command line of a check that plays: `check(agent, codec, spec, **options)` on a
    run folder's or checkpoint's agent, printed; each option an int flag with its default."""
    parser = target_parser(description)
    for name, default in options.items():
        parser.add_argument(f"--{name}", type=int, default=default)
    args = parser.parse_args()
    state = loaded(args.target)
    agent, codec, spec = agent_from_checkpoint(state)
    result = check(agent, codec, spec, **{name: getattr(args, name) for name in options})
    print(heading(args.target, state["env_steps"]))
    print("\n".join(result.lines()))
