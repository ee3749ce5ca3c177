"""Why a CartPole policy loses its 500: how its greedy episodes end, and what its world model
sees of the two ways CartPole terminates (the pole past 12 degrees, the cart past 2.4).

    python benchmarks/cartpole_edges.py RUN_DIR_OR_CHECKPOINT [...] [--episodes 20]
        [--windows 512] [--seed 0]

Per checkpoint (a run folder stands for its latest):
  1. `--episodes` greedy episodes, as evaluation plays them: how many ended with the cart
     past the edge, with the pole fallen, or at the 500-step limit (runs from pixels too);
  2. over replayed windows: the continue head's predicted continuation at the terminal steps
     of each kind and at non-terminal steps with the cart beyond 2.0;
  3. the decoder's error on the cart position, by how far from the centre the cart was
     (2 and 3 for runs from the state vector).
"""

import argparse
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch

from agent.agent import evaluating
from agent.analysis.command import loaded
from agent.analysis.reward_check import (
    WARMUP,
    run_from_checkpoint,
    sample_windows,
    seeded_posterior,
)
from agent.loop.acting import ActingPolicy
from agent.loop.driver import Driver
from agent.loop.evaluate import env_interface
from envs import make_vector_env

X_LIMIT = 2.4  # CartPole-v1 terminates past these
ANGLE_LIMIT = 12 * 2 * np.pi / 360
POSITION_BINS = (0.0, 0.5, 1.0, 1.5, 2.0, X_LIMIT, np.inf)


def episode_ends(agent, codec, spec, episodes: int, seed: int) -> dict[str, int]:
    """Greedy episodes in parallel envs; how each ended, read from the env's own state (with
    next-step autoreset an env holds its last state until the following step), so that a
    run from pixels is read as one from the state vector."""
    env = agent.cfg.env
    # sync whatever the run used: how an episode ended is read from each env object
    envs = make_vector_env(env.id, episodes, env.kwargs, "sync", **env.wrappers())
    driver, policy = Driver(envs, codec, spec, seed), ActingPolicy(agent, codec, episodes,
                                                                   greedy=True)
    ends: dict[int, str] = {}
    with torch.no_grad():
        while len(ends) < episodes:
            _, finished = driver.step(policy)
            for episode in finished:
                cart = envs.envs[episode.env].unwrapped.state[0]
                ends.setdefault(episode.env, "limit" if episode.length >= 500 else
                                "edge" if abs(cart) > X_LIMIT else "pole")
    envs.close()
    return {kind: list(ends.values()).count(kind) for kind in ("edge", "pole", "limit")}


def observation(obs: dict) -> torch.Tensor:
    """CartPole's one vector key: [..., (x, x_dot, theta, theta_dot)]."""
    (value,) = obs.values()
    return value


def replayed_views(agent, replay, windows: int, seed: int) -> list[str]:
    """The continue head by kind of step, and the decoder's cart-position error by |x|."""
    batch = sample_windows(replay, windows, agent.cfg.train.seq_len, seed)
    wm = agent.world_model
    with torch.no_grad(), evaluating(wm), seeded_posterior(seed):
        states = wm.observe(batch.obs, batch.action, batch.is_first)
        feat = wm.feat(states.h, states.quantized.code)
        cont, decoded = wm.cont_prob(feat), observation(wm.decode(feat))[..., 0]
    x = observation(batch.obs)[..., 0]
    cont, decoded, x, ended = (t[:, WARMUP:] for t in (cont, decoded, x, batch.cont == 0))
    kinds = {"terminal, cart past the edge": ended & (x.abs() > X_LIMIT),
             "terminal, pole fallen": ended & (x.abs() <= X_LIMIT),
             "non-terminal, |x| > 2.0": ~ended & (x.abs() > 2.0),
             "non-terminal, |x| < 1.0": ~ended & (x.abs() < 1.0)}
    lines = [f"  continue head, {kind}: {mean(cont, where)} over {int(where.sum())} steps"
             for kind, where in kinds.items()]
    error = (decoded - x).abs()
    for low, high in pairwise(POSITION_BINS):
        where = (x.abs() >= low) & (x.abs() < high)
        lines.append(f"  cart position, |x| in [{low}, {high}): decoder's mean absolute error "
                     f"{mean(error, where)} over {int(where.sum())} steps")
    return lines


def mean(values: torch.Tensor, where: torch.Tensor) -> str:
    return f"{float(values[where].mean()):.3f}" if where.any() else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", type=Path, nargs="+", help="run folders or checkpoints")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--windows", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for target in args.targets:
        agent, replay, env_steps = run_from_checkpoint(loaded(target))
        codec, spec = env_interface(agent.cfg.env)
        if agent.cfg.env.id != "CartPole-v1":
            raise SystemExit(f"error: {target} is not a CartPole-v1 run")
        ends = episode_ends(agent, codec, spec, args.episodes, 1000 + args.seed)
        print(f"{target} ({env_steps} env steps): {args.episodes} greedy episodes ended at the "
              f"edge {ends['edge']}, pole fallen {ends['pole']}, at the 500 limit "
              f"{ends['limit']}", flush=True)
        if spec.image_keys:  # the replay holds frames, not the cart's position
            print("  (a run from pixels: the replayed views need the state vector)")
            continue
        print("\n".join(replayed_views(agent, replay, args.windows, args.seed)), flush=True)


if __name__ == "__main__":
    main()
