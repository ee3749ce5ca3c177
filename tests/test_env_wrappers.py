"""env.action_repeat and env.time_limit, as make_env applies them."""

import numpy as np
import pytest

from agent.config import Config
from agent.errors import ConfigError
from agent.validation import validate
from envs import make_env, make_vector_env, set_pending_resets


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


@pytest.mark.parametrize("vector", ["sync", "async"])
def test_a_pending_reset_makes_the_next_vector_step_a_reset(vector):
    # Fails if gymnasium changes how its vector envs remember pending resets.
    envs = make_vector_env("CartPole-v1", 2, vector=vector)
    try:
        envs.reset(seed=0)
        envs.step(np.array([0, 0]))
        if vector == "async":  # its copies live in subprocesses: the attribute is local
            with pytest.raises(RuntimeError, match="_autoreset_envs"):
                set_pending_resets(envs, np.array([True, False]))
            return
        set_pending_resets(envs, np.array([True, False]))
        _, reward, *_ = envs.step(np.array([0, 0]))
        lengths = [len(s["actions"]) for s in envs.call("snapshot")]
        # env 0 reset instead of stepping (no reward, no action); env 1 took its second step
        assert lengths == [0, 2] and reward.tolist() == [0.0, 1.0]
    finally:
        envs.close()
