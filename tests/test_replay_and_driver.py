"""Replay windows and the time alignment of stored steps, on real CartPole episodes."""

import dataclasses

import torch

from agent.loop.ratio import Ratio
from agent.loop.replay import Replay
from envs.observations import vector_spec
from tests.helpers import cartpole_replay


def test_stored_steps_follow_the_time_alignment():
    replay = cartpole_replay(300, num_envs=2)
    for env in range(2):
        first = replay.is_first[env, :300]
        cont = replay.cont[env, :300]
        reward = replay.reward[env, :300]
        assert first[0] == 1
        assert torch.all(reward[first == 1] == 0)  # r_0 = 0 on reset
        assert torch.all(reward[first == 0] == 1)  # CartPole pays 1 per step
        ends = torch.nonzero(cont == 0).flatten()
        assert len(ends) > 3  # random play ends many episodes
        # Right after a terminal step comes the first step of the next episode.
        assert torch.all(first[ends[ends < 299] + 1] == 1)
        # ...and every later episode start follows a terminal step (no truncation here).
        starts = torch.nonzero(first).flatten()[1:]
        assert torch.all(cont[starts - 1] == 0)
        # A terminal observation is out of bounds (pole fell or cart left the track).
        obs = replay.obs["obs"][env, ends]
        assert torch.all((obs[:, 0].abs() > 2.4) | (obs[:, 2].abs() > 0.2095))


def test_each_action_is_stored_with_the_observation_it_was_chosen_for():
    seen: list = []
    replay = cartpole_replay(50, num_envs=2, policy_log=seen)
    for t, (obs, action) in enumerate(seen):
        assert torch.equal(replay.obs["obs"][:, t], obs["obs"])
        assert torch.equal(replay.action[:, t], action)


def test_truncation_is_not_termination():
    replay = cartpole_replay(60, num_envs=1, max_episode_steps=5)
    first = replay.is_first[0, :60]
    # Episodes last exactly 5 transitions unless the pole falls first; a time limit keeps cont.
    starts = torch.nonzero(first).flatten()
    assert torch.all(replay.cont[0, starts[1:] - 1] == 1)
    assert torch.all(starts.diff() == 6)


def test_samples_are_contiguous_windows_that_never_cross_the_write_head():
    replay = Replay(capacity=50, num_envs=1, spec=vector_spec(1), act_dim=1, seed=0)
    for t in range(137):  # wraps the ring more than twice
        replay.add({"obs": torch.tensor([[float(t)]])}, torch.zeros(1, 1), torch.zeros(1),
                   torch.zeros(1), torch.ones(1))
    assert len(replay) == 50 and replay.obs["obs"].shape[1] == 50  # bounded by capacity
    batch = replay.sample(256, 10)
    steps = batch.obs["obs"][..., 0]
    assert torch.all(steps.diff(dim=1) == 1)  # consecutive in time
    assert steps.min() >= 137 - 50 and steps.max() <= 136  # only kept steps


def counted_replay(steps: int, capacity: int) -> Replay:
    """One stream whose observation is the step it was written at."""
    replay = Replay(capacity=capacity, num_envs=1, spec=vector_spec(1), act_dim=1, seed=0)
    for t in range(steps):
        replay.add({"obs": torch.tensor([[float(t)]])}, torch.zeros(1, 1), torch.zeros(1),
                   torch.zeros(1), torch.ones(1))
    return replay


def test_recency_draws_windows_about_in_proportion_to_one_over_their_age():
    replay = counted_replay(1100, capacity=1000)  # wrapped: steps 100..1099 kept
    starts = 1000 - 10 + 1  # window starts 100..1090; the newest has age 0
    first = replay.sample(200_000, 10, recency=1.0).obs["obs"][:, 0, 0]
    age = 1090 - first
    assert torch.all(replay.sample(256, 10, recency=1.0).obs["obs"][..., 0].diff(dim=1) == 1)
    assert age.min() >= 0 and age.max() <= starts - 1  # only kept steps, never the head
    log_mass = torch.log(torch.tensor(float(starts + 1)))
    for a in (0, 1, 9, 99):  # P(a) = ln((a + 2) / (a + 1)) / ln(starts + 1)
        expected = torch.log(torch.tensor((a + 2) / (a + 1))) / log_mass
        assert abs((age == a).float().mean() - expected) < 0.1 * expected
    # The newest tenth of the windows gets ln(100) / ln(992) = 2/3 of the draws, not 1/10.
    assert abs((age < 99).float().mean() - 2 / 3) < 0.01


def test_a_recency_share_mixes_recent_and_uniform_windows_and_zero_is_uniform():
    replay = counted_replay(1000, capacity=1000)
    newest = lambda batch: (batch.obs["obs"][:, 0, 0] >= 990 - 99).float().mean()  # noqa: E731
    uniform = newest(replay.sample(100_000, 10, recency=0.0))
    mixed = newest(replay.sample(100_000, 10, recency=0.5))
    assert abs(uniform - 0.1) < 0.01  # the newest tenth of the starts, a tenth of the draws
    assert abs(mixed - (0.5 * 0.1 + 0.5 * 2 / 3)) < 0.01


def test_ratio_keeps_replayed_steps_at_train_ratio_times_env_steps():
    ratio = Ratio(train_ratio=512, batch_size=16, seq_len=64)  # 0.5 updates per env step
    updates = sum(ratio(step) for step in range(1, 1001))
    assert updates == 500
    counts = [Ratio(64, 4, 16)(n) for n in (0, 7)]
    assert counts == [0, 7]


def test_the_training_envs_of_neighbouring_seeds_never_start_alike(tmp_path):
    """With several envs, env 0 starts from the run's seed and the others from seeds
    derived from it, so seed 1's envs are not seed 0's shifted by one (gymnasium's
    seed + i would make them so)."""
    import gymnasium as gym

    from agent.loop.run import Run
    from tests.helpers import compose_config

    first_obs = {}
    for seed in (0, 1):
        cfg = compose_config("preset=debug", "env.num_envs=3", f"seed={seed}", "threads=1")
        run = Run(dataclasses.replace(cfg, run_dir=str(tmp_path / f"s{seed}")))
        first_obs[seed] = run.driver.obs["obs"].clone()
        run.envs.close()
    alone = gym.make("CartPole-v1")
    assert torch.allclose(first_obs[0][0], torch.as_tensor(alone.reset(seed=0)[0]))
    assert torch.allclose(first_obs[1][0], torch.as_tensor(alone.reset(seed=1)[0]))
    starts = [tuple(o.tolist()) for seed in (0, 1) for o in first_obs[seed]]
    assert len(set(starts)) == 6  # six envs, six different starts
