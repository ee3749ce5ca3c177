"""The cue-recall task (envs/memory.py): the cue only at t = 0, the answer flag only at the
answer step, +1 / -1 for a right / wrong answer there, nothing before, delay + 1 steps."""


import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers CueRecall-v0)
from tests.helpers import compose_config


def play(env: gym.Env, answer, seed: int) -> tuple[list, list, int]:
    """One episode with `answer(cue)` at every step; observations, rewards and the cue."""
    obs, info = env.reset(seed=seed)
    seen, rewards, done = [obs], [], False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(answer(info["cue"]))
        seen.append(obs)
        rewards.append(reward)
        done = terminated or truncated
        assert not truncated
    return seen, rewards, info["cue"]


@pytest.mark.parametrize("delay", [0, 2, 6])
def test_cue_only_at_the_first_step_and_the_flag_only_at_the_answer(delay):
    env = gym.make("CueRecall-v0", delay=delay)
    for seed in range(6):
        seen, rewards, cue = play(env, lambda cue: cue, seed)
        assert len(rewards) == delay + 1  # the episode length
        assert seen[0][cue] == 1 and seen[0][1 - cue] == 0
        for t, obs in enumerate(seen):
            if t > 0:
                assert obs[:2].tolist() == [0, 0], f"cue visible at t={t}"
            assert obs[2] == (1 if t == delay else 0)


@pytest.mark.parametrize("delay", [0, 3])
def test_the_answer_step_pays_plus_or_minus_one_and_other_steps_nothing(delay):
    env = gym.make("CueRecall-v0", delay=delay)
    for seed in range(6):
        _, right, _ = play(env, lambda cue: cue, seed)
        _, wrong, _ = play(env, lambda cue: 1 - cue, seed)
        assert right == [0.0] * delay + [1.0]
        assert wrong == [0.0] * delay + [-1.0]


def test_actions_before_the_answer_change_nothing():
    env = gym.make("CueRecall-v0", delay=4)
    outcomes = set()
    for early in (0, 1):
        obs, _ = env.reset(seed=3)
        trace = [obs.tolist()]
        for t in range(5):
            obs, reward, *_ = env.step(early if t < 4 else 0)
            trace.append((obs.tolist(), reward))
        outcomes.add(str(trace))
    assert len(outcomes) == 1


def test_both_cues_are_drawn_and_seeding_repeats_them():
    env = gym.make("CueRecall-v0", delay=1)
    cues = [env.reset(seed=s)[1]["cue"] for s in range(40)]
    assert set(cues) == {0, 1} and 10 < sum(cues) < 30
    assert cues == [env.reset(seed=s)[1]["cue"] for s in range(40)]
    assert env.observation_space.contains(np.zeros(3, np.float32))


def test_a_negative_delay_is_refused():
    with pytest.raises(ValueError, match="delay"):
        gym.make("CueRecall-v0", delay=-1)


def test_the_memory_config_weights_the_reward_starts_its_head_random_and_trains_more():
    memory = compose_config("env=memory")
    undone = compose_config("env=memory", "loss_scales.reward=1", "model.reward_outscale=0",
                            "train.train_ratio=256")
    default = compose_config()
    assert memory.env.id == "CueRecall-v0" and memory.env.kwargs["delay"] == 6
    assert memory.loss_scales.reward == 100 and memory.model.reward_outscale == 1
    assert memory.train.train_ratio == 2 * default.train.train_ratio == 512
    assert undone.loss_scales.reward == 1 and undone.model.reward_outscale == 0
    assert undone.train.train_ratio == 256
    assert default.loss_scales.reward == 1 and default.model.reward_outscale == 0
