"""A uniform random policy's return on a task, the floor a learning curve should clear.

    python benchmarks/random_policy.py [--episodes 100] [--seed 0] [key=value ...]

Makes the env as a run with those overrides would (e.g. `env=minatar env.game=asterix`:
the same id, time limit and action repeat) and prints the mean and std of the return of
uniformly random actions over --episodes episodes.
"""

import argparse
import statistics

from common import load_config

from envs.make import make_env


def random_returns(overrides: list[str], episodes: int = 100, seed: int = 0) -> list[float]:
    """Returns of `episodes` episodes of uniformly random actions in the env a run with
    these overrides makes."""
    env_cfg = load_config(overrides).env
    env = make_env(env_cfg.id, dict(env_cfg.kwargs or {}), env_cfg.action_repeat,
                   env_cfg.time_limit)
    env.action_space.seed(seed)
    returns = []
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return returns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args, overrides = parser.parse_known_args()
    returns = random_returns(overrides, args.episodes, args.seed)
    print(f"random policy, {' '.join(overrides) or 'default env'}: "
          f"{statistics.mean(returns):.2f} ± {statistics.pstdev(returns):.2f} "
          f"over {len(returns)} episodes")


if __name__ == "__main__":
    main()
