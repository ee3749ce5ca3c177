"""DeepMind Control (through shimmy) and gymnasium's MuJoCo tasks, from their optional extras
(CI installs both): real training runs, frames counted with the action repeat, exact resumes,
headless rendering, and the install command where a package is missing."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from envs import EnvError, make_env
from envs.replayable import ReplayableEnv
from envs.suites import dmc_env_id, exactly_restorable
from tests.helpers import ROOT, compose_config, smoke_run
from tests.test_resume import TINY, final_weights, learning_events, run, same


def _finite_losses(events: list[dict]) -> bool:
    losses = [v for e in events for k, v in e.items() if k.startswith("loss/")]
    return bool(losses) and all(v is not None and math.isfinite(v) for v in losses)


def test_dmc_walker_trains_and_counts_frames_with_dreamer_settings(tmp_path):
    pytest.importorskip("dm_control", reason="the dmc extra is not installed")
    pytest.importorskip("shimmy", reason="the dmc extra is not installed")
    events = smoke_run(tmp_path, "env=dmc", "env.task=walker_walk")
    assert _finite_losses(events)
    env = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["env"]
    assert env["id"] == "dm_control/walker-walk-v0" and env["action_repeat"] == 2
    # 200 agent steps are 400 frames; an episode is 1,000 frames = 500 agent steps.
    assert events[-1]["step"] == 200 and events[-1]["frames"] == 400
    assert all(e["frames"] == 2 * e["step"] for e in events)
    evals = [e for e in events if "eval/length" in e]
    assert evals and all(e["eval/length"] == 500 for e in evals)


def test_mujoco_half_cheetah_trains(tmp_path):
    pytest.importorskip("mujoco", reason="the mujoco extra is not installed")
    events = smoke_run(tmp_path, "env=mujoco", "env.task=HalfCheetah-v5", "eval.episodes=1",
                       "env.time_limit=100")
    assert _finite_losses(events)
    assert all(e["frames"] == e["step"] for e in events)  # no action repeat
    env = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["env"]
    assert env["id"] == "HalfCheetah-v5"


@pytest.mark.parametrize("task", ["dm_control/walker-walk-v0", "dm_control/reacher-easy-v0"])
def test_replaying_the_actions_restores_a_dmc_episode_exactly(task):
    # walker's observations include a scalar; reacher draws its target from the task's RNG.
    pytest.importorskip("shimmy", reason="the dmc extra is not installed")
    rng = np.random.default_rng(0)
    first = ReplayableEnv(make_env(task, action_repeat=2))
    first.reset(seed=5)
    for _ in range(10):
        first.step(rng.uniform(-1, 1, first.action_space.shape))
    first.reset()  # unseeded, as autoreset does: it draws from the RNG's current state
    for _ in range(30):
        obs, *_ = first.step(rng.uniform(-1, 1, first.action_space.shape))
    second = ReplayableEnv(make_env(task, action_repeat=2))
    second.reset(seed=99)
    restored = second.restore(first.snapshot())
    assert all(np.array_equal(obs[k], restored[k]) for k in obs)
    physics = [env.unwrapped.physics.get_state() for env in (first, second)]
    assert np.array_equal(*physics)
    for _ in range(20):  # and both continue identically
        action = rng.uniform(-1, 1, first.action_space.shape)
        a, b = first.step(action), second.step(action)
        assert a[1] == b[1] and all(np.array_equal(a[0][k], b[0][k]) for k in a[0])
    assert exactly_restorable(task) and not exactly_restorable("MinAtar/Breakout-v1")


def test_a_dmc_run_stopped_mid_episode_resumes_bitwise(tmp_path):
    """Through a real checkpoint: the task's RandomState is stored as plain data and the
    episode in progress (200 of its 500 agent steps) is replayed."""
    pytest.importorskip("shimmy", reason="the dmc extra is not installed")
    straight, split = tmp_path / "straight", tmp_path / "split"
    dmc = [*TINY, "env=dmc", "eval.every=0", "checkpoint.every=200"]
    assert run(*dmc, "steps=400", f"run_dir={straight}", cwd=tmp_path).returncode == 0
    assert run(*dmc, "steps=200", f"run_dir={split}", cwd=tmp_path).returncode == 0
    result = run(f"resume={split}", "steps=400", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "cannot be restored" not in result.stderr
    a, b = final_weights(straight), final_weights(split)
    assert a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    assert learning_events(straight) == learning_events(split)


def test_dmc_learns_the_actor_through_the_dynamics_unless_reinforce_is_named():
    assert compose_config("env=dmc").ac.actor_grad == "dynamics"
    assert compose_config("env=dmc", "ac.actor_grad=reinforce").ac.actor_grad == "reinforce"
    assert compose_config("env=mujoco").ac.actor_grad == "reinforce"
    assert compose_config().ac.actor_grad == "reinforce"  # DreamerV3's estimator elsewhere


def test_dreamer_task_names_map_to_shimmy_ids():
    assert dmc_env_id("walker_walk") == "dm_control/walker-walk-v0"
    assert dmc_env_id("cartpole_swingup_sparse") == "dm_control/cartpole-swingup_sparse-v0"
    assert dmc_env_id("ball_in_cup_catch") == "dm_control/ball_in_cup-catch-v0"
    assert dmc_env_id("point_mass_easy") == "dm_control/point_mass-easy-v0"
    assert dmc_env_id("humanoid_CMU_stand") == "dm_control/humanoid_CMU-stand-v0"
    assert dmc_env_id("lqr_lqr_2_1") == "dm_control/lqr-lqr_2_1-v0"


RENDER_DMC = """
import os, sys
from envs import make_env
env = make_env("dm_control/cartpole-swingup-v0", pixels=True, action_repeat=2,
               kwargs={"render_kwargs": {"width": 32, "height": 32, "camera_id": 0}})
obs, _ = env.reset(seed=0)
obs, *_ = env.step(env.action_space.sample())
print(os.environ["MUJOCO_GL"], obs.shape, obs.dtype, "dm_control" in sys.modules)
"""


def test_dmc_from_pixels_renders_headless_through_egl_by_default():
    pytest.importorskip("shimmy", reason="the dmc extra is not installed")
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY")}
    result = subprocess.run([sys.executable, "-c", RENDER_DMC], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "egl (32, 32, 3) uint8 True"


def test_a_dmc_run_filmed_at_its_evals_renders_headless_without_mujoco_gl(tmp_path):
    """Training from the state vector imports dm_control before any frame is drawn: a run
    that films its evals chooses EGL first, so the videos exist without MUJOCO_GL set."""
    pytest.importorskip("shimmy", reason="the dmc extra is not installed")
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY")}
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "env=dmc", "preset=debug", "steps=200",
         "eval.every=200", "eval.episodes=1", "eval.video_every=1", "env.time_limit=100",
         "threads=1", "wandb.mode=disabled", "log.progress=false", f"run_dir={run_dir}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "no video" not in result.stdout
    assert [p.name for p in (run_dir / "videos").iterdir()] == ["eval-0000000200.mp4"]


def test_envs_that_do_not_render_leave_mujoco_gl_alone(monkeypatch):
    pytest.importorskip("mujoco", reason="the mujoco extra is not installed")
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    make_env("HalfCheetah-v5").close()
    assert "MUJOCO_GL" not in os.environ


@pytest.mark.parametrize("env_id, package, extra", [
    ("dm_control/walker-walk-v0", "dm_control", "dmc"),
    ("HalfCheetah-v5", "mujoco", "mujoco"),
])
def test_a_missing_package_names_the_extra(monkeypatch, env_id, package, extra):
    monkeypatch.setitem(sys.modules, package, None)  # as if it were not installed
    with pytest.raises(EnvError, match=rf"needs the {package} package: "
                                       rf"pip install -e '\.\[{extra}\]'"):
        make_env(env_id)
