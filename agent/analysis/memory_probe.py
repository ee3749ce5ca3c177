"""Can the world model remember? Train it alone on a random policy's cue-recall episodes
(envs/memory.py) and score its reward head at the answer steps of held-out episodes.

    index in replay   ... o_delay (flag)   o_term           o_0' (is_first) ...
    action                a_delay = answer
    reward                0                r = +1 or -1     0

The reward of the answer arrives with the terminal observation, so the head must predict
it from s = [h, c] where h = f(h_prev, c_prev, answer): the cue has to survive `delay`
GRU steps in h, and the sign of r is whether the answer matches it. A random policy answers
right half the time, so predicting the sign well above 50% is the model remembering.
"""

import time
from dataclasses import dataclass

import numpy as np
import torch

from agent.agent import Agent
from agent.analysis.random_data import observed_rewards, random_policy_replay, train_world_model
from agent.data import Batch
from agent.loop.replay import Replay

ENV_ID = "CueRecall-v0"


@dataclass
class ProbeResult:
    accuracy: float           # sign of the predicted reward vs the true +-1, answer steps
    answer_mae: float         # |predicted - true| at answer steps
    other_mae: float          # |predicted| at the steps whose reward is 0
    answers: int              # answer steps scored
    reward_loss: float        # the reward loss, mean of the last tenth of the updates
    seconds: float            # training wall time


def random_replay(steps: int, delay: int, num_envs: int = 4, seed: int = 0) -> Replay:
    """`steps` vector steps of uniform random actions on CueRecall(delay)."""
    return random_policy_replay(ENV_ID, steps, {"delay": delay}, num_envs, seed)


def whole_streams(replay: Replay) -> Batch:
    """Every stored step, one sequence per env stream: [num_envs, written, ...]."""
    n = replay.written
    assert n <= replay.length, "the held-out replay must not have wrapped around"
    return Batch({k: v[:, :n] for k, v in replay.obs.items()}, replay.action[:, :n],
                 replay.reward[:, :n], replay.is_first[:, :n], replay.cont[:, :n])


@torch.no_grad()
def score(agent: Agent, held_out: Replay) -> dict[str, float]:
    """The reward head on held-out episodes, observed step by step from their start."""
    batch = whole_streams(held_out)
    pred = observed_rewards(agent, batch.obs, batch.action, batch.is_first)
    answer = batch.reward != 0
    answer[:, 0] = False  # h starts from zeros there (a window's first step), never in play
    return {"accuracy": (pred[answer].sign() == batch.reward[answer]).float().mean().item(),
            "answer_mae": (pred[answer] - batch.reward[answer]).abs().mean().item(),
            "other_mae": pred[~answer].abs().mean().item(),
            "answers": int(answer.sum())}


def probe(agent: Agent, delay: int, updates: int, seed: int = 0,
          train_steps: int = 1000, test_steps: int = 250) -> ProbeResult:
    """Train `agent`'s world model on random episodes of CueRecall(delay) and score it on
    episodes it never saw (another seed)."""
    train = random_replay(train_steps, delay, seed=seed)
    held_out = random_replay(test_steps, delay, seed=seed + 10_000)
    tic = time.perf_counter()
    losses = train_world_model(agent, train, updates)
    seconds = time.perf_counter() - tic
    tail = losses[-max(1, updates // 10):]
    return ProbeResult(**score(agent, held_out), reward_loss=float(np.mean(tail)),
                       seconds=seconds)
