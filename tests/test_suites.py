"""MinAtar and Atari through their optional extras: smoke runs where they are installed
(CI installs both), and a message with the install command where they are not."""

import math
import sys

import numpy as np
import pytest
import yaml

from envs import EnvError, make_env
from tests.helpers import compose_config, smoke_run

BOARDS = {"image": [], "flat": ["env.image_size=flat"],
          "padded": ["env.image_fit=pad", "env.image_size=16"]}


@pytest.mark.parametrize("board", list(BOARDS))
def test_minatar_breakout_trains(tmp_path, board):
    """As an image through the CNN (resized, or padded into a 16 x 16 canvas), and as a
    vector through the MLP (env.image_size=flat)."""
    pytest.importorskip("minatar", reason="the minatar extra is not installed")
    events = smoke_run(tmp_path, "env=minatar", "env.game=breakout", *BOARDS[board])
    losses = [v for e in events for k, v in e.items() if k.startswith("loss/")]
    assert losses and all(math.isfinite(v) for v in losses)
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["env"]["id"] == "MinAtar/Breakout-v1"
    assert config["env"]["image_size"] == {"image": 32, "flat": "flat", "padded": 16}[board]
    if board == "padded":  # what replay kept: the boards inside an empty 3-pixel margin
        from agent.analysis.reward_check import load_run

        _, replay, _ = load_run(tmp_path / "run")
        (boards,) = replay.obs.values()  # preallocated: the steps not yet written are zeros
        assert boards.shape[-2:] == (16, 16) and boards[..., 3:13, 3:13].sum() > 0
        assert boards.sum() == boards[..., 3:13, 3:13].sum()


def test_minatar_runs_the_categorical_code_unless_a_quantizer_is_named():
    assert compose_config("env=minatar").quantizer.name == "categorical"
    assert compose_config("env=minatar", "quantizer=fsq").quantizer.name == "fsq"
    assert compose_config("env=minatar", "quantizer.groups=4").quantizer.groups == 4
    assert compose_config().quantizer.name == "fsq"  # the global default stays


def test_minatar_episodes_end_even_where_the_game_never_ends(tmp_path):
    """Seaquest's submarine waiting at the surface never dies; the config's limit ends it."""
    pytest.importorskip("minatar", reason="the minatar extra is not installed")
    cfg = compose_config("env=minatar", "env.game=seaquest")
    env = make_env(cfg.env.id, cfg.env.kwargs, **cfg.env.wrappers())
    env.reset(seed=0)
    steps, terminated, truncated = 0, False, False
    while not (terminated or truncated) and steps <= cfg.env.time_limit:
        _, _, terminated, truncated, _ = env.step(0)  # no-op: stay at the surface
        steps += 1
    assert (steps, terminated, truncated) == (cfg.env.time_limit, False, True)


def test_atari_pong_trains_with_dreamer_settings(tmp_path):
    pytest.importorskip("ale_py", reason="the atari extra is not installed")
    events = smoke_run(tmp_path, "env=atari", "env.game=pong", "eval.episodes=1",
                       "env.time_limit=100")
    losses = [v for e in events for k, v in e.items() if k.startswith("loss/")]
    assert losses and all(math.isfinite(v) for v in losses)
    env = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["env"]
    assert env["id"] == "ALE/Pong-v5" and env["action_repeat"] == 4 and env["max_pool"]
    assert env["kwargs"] == {"frameskip": 1, "repeat_action_probability": 0.25,
                             "full_action_space": True}


def test_atari_frames_are_max_pooled_over_the_last_two_of_each_step():
    pytest.importorskip("ale_py", reason="the atari extra is not installed")
    kwargs = {"frameskip": 1, "repeat_action_probability": 0.0}
    pooled = make_env("ALE/Breakout-v5", kwargs, action_repeat=4, max_pool=True)
    single = make_env("ALE/Breakout-v5", kwargs)
    pooled.reset(seed=3)
    single.reset(seed=3)
    for action in (1, 2, 3):
        obs, *_ = pooled.step(action)
        frames = [single.step(action)[0] for _ in range(4)]
        np.testing.assert_array_equal(obs, np.maximum(frames[2], frames[3]))


def test_a_missing_suite_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "minatar", None)  # as if it were not installed
    with pytest.raises(EnvError, match=r"needs the minatar package: pip install -e "
                                       r"'\.\[minatar\]'"):
        make_env("MinAtar/Asterix-v1")
