"""env.action_repeat and env.time_limit, as make_env applies them."""

import pytest

from agent.config import Config
from agent.errors import ConfigError
from agent.validation import validate
from envs import make_env


def _episode(env, actions=(0, 1)) -> tuple[int, float, bool]:
    """Agent steps, summed reward and whether it was truncated, alternating the actions."""
    env.reset(seed=0)
    steps, total = 0, 0.0
    while True:
        _, reward, terminated, truncated, _ = env.step(actions[steps % len(actions)])
        steps, total = steps + 1, total + reward
        if terminated or truncated:
            return steps, total, truncated


def test_action_repeat_sums_rewards_and_stops_at_the_end_of_the_episode():
    # CartPole pays 1 per env step; a 7-step limit with 3 repeats is 3 agent steps: 3+3+1.
    steps, total, truncated = _episode(make_env("CartPole-v1", action_repeat=3, time_limit=7))
    assert (steps, total, truncated) == (3, 7.0, True)


def test_time_limit_replaces_the_registered_limit():
    steps, total, truncated = _episode(make_env("CartPole-v1", time_limit=5))
    assert (steps, total, truncated) == (5, 5.0, True)
    unlimited = make_env("CartPole-v1")
    assert unlimited.spec.max_episode_steps == 500


@pytest.mark.parametrize("key, value", [("action_repeat", 0), ("time_limit", -1)])
def test_bad_wrapper_settings_are_refused(key, value):
    cfg = Config()
    setattr(cfg.env, key, value)
    with pytest.raises(ConfigError, match=f"env.{key}"):
        validate(cfg)
