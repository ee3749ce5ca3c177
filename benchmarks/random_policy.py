"""A uniform random policy's return on a task, the floor a learning curve should clear; or
a fixed action's, the return a policy that never looks at the screen gets.

    python benchmarks/random_policy.py [--episodes 100] [--seed 0] [--action N] [key=value ...]

Makes the env as a run with those overrides would (e.g. `env=minatar env.game=asterix`:
the same id, time limit and action repeat) and prints the mean and std of the return of
uniformly random actions (or of action N at every step, e.g. Freeway's "up" is
`--action 1`) over --episodes episodes.
"""

import argparse
import statistics

from common import load_config

from envs.make import make_env


def baseline_returns(overrides: list[str], episodes: int = 100, seed: int = 0,
                   action: int | None = None) -> list[float]:
    """Returns of `episodes` episodes of uniformly random actions (or of `action` at every
    step) in the env a run with these overrides makes."""
    env_cfg = load_config(overrides).env
    env = make_env(env_cfg.id, dict(env_cfg.kwargs or {}), env_cfg.action_repeat,
                   env_cfg.time_limit)
    env.action_space.seed(seed)
    if action is not None and not env.action_space.contains(action):
        env.close()
        raise SystemExit(f"--action {action} is not an action of {env_cfg.id} "
                         f"({env.action_space}): choose one inside it")
    returns = []
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            chosen = env.action_space.sample() if action is None else action
            _, reward, terminated, truncated, _ = env.step(chosen)
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
    parser.add_argument("--action", type=int, default=None,
                        help="play this action at every step instead of random ones")
    args, overrides = parser.parse_known_args()
    returns = baseline_returns(overrides, args.episodes, args.seed, args.action)
    policy = "random policy" if args.action is None else f"action {args.action} always"
    print(f"{policy}, {' '.join(overrides) or 'default env'}: "
          f"{statistics.mean(returns):.2f} ± {statistics.pstdev(returns):.2f} "
          f"over {len(returns)} episodes")


if __name__ == "__main__":
    main()
