"""Shared by tests: real CartPole data (a random policy's steps, laid out as replay stores
them), a short real training run of run.py, and the config a command line composes."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from agent.loop import cli
from agent.loop.driver import Driver
from agent.loop.replay import Replay
from envs import ActionCodec, ObservationSpec, make_vector_env

ROOT = Path(__file__).resolve().parents[1]


def compose_config(*overrides: str):
    """The typed Config that `python run.py OVERRIDES` trains with."""
    return cli.compose_config(str(ROOT / "configs"), ["run_dir=unused", *overrides])


class RecordingPolicy:
    """Uniform random actions, remembering which observation each was chosen for."""

    def __init__(self, codec: ActionCodec, seed: int):
        self.codec, self.rng = codec, np.random.default_rng(seed)
        self.seen: list[tuple[dict, torch.Tensor]] = []

    def __call__(self, obs: dict, is_first: torch.Tensor) -> torch.Tensor:
        action = self.codec.random(is_first.shape[0], self.rng)
        self.seen.append(({k: v.clone() for k, v in obs.items()}, action))
        return action


def cartpole_replay(steps: int = 200, num_envs: int = 2, seed: int = 0,
                    policy_log: list | None = None, **env_kwargs) -> Replay:
    envs = make_vector_env("CartPole-v1", num_envs, env_kwargs)
    codec = ActionCodec(envs.single_action_space)
    spec = ObservationSpec(envs.single_observation_space)
    replay = Replay(10_000, num_envs, spec, codec.size, seed=seed)
    driver = Driver(envs, codec, spec, seed)
    policy = RecordingPolicy(codec, seed)
    for _ in range(steps):
        step, _ = driver.step(policy)
        replay.add(*step)
    envs.close()
    if policy_log is not None:
        policy_log.extend(policy.seen)
    return replay


def smoke_run(tmp_path: Path, *args: str) -> list[dict]:
    """A 200-step debug run of run.py with `args` (which may set its own image size);
    returns its metrics.jsonl events."""
    run_dir = tmp_path / "run"
    size = [] if any(a.startswith("env.image_size=") for a in args) else ["env.image_size=32"]
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "preset=debug", *args, "steps=200", *size,
         "model.cnn_depth=4", "threads=1", "wandb.mode=disabled",
         "log.progress=false", f"run_dir={run_dir}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def run_module(module: str, *args: str) -> subprocess.CompletedProcess:
    """`python -m module args...` from the repository root, its output captured."""
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def smoke_run_folder(tmp_path_factory, name: str) -> Path:
    """The run folder of a smoke_run in a fresh temporary folder (for module fixtures)."""
    tmp_path = tmp_path_factory.mktemp(name)
    smoke_run(tmp_path)
    return tmp_path / "run"


def minatar_agent_and_replay(env_id: str, steps: int = 200):
    """A small categorical agent for a MinAtar game (its config naming the game) and a
    random policy's replay of it, both at env=minatar's 16 x 16."""
    from agent.agent import Agent
    from agent.analysis.random_data import random_policy_replay
    from envs.make import make_env
    from tests.conftest import small_config

    torch.manual_seed(0)
    replay = random_policy_replay(env_id, steps, image_size=16)
    env = make_env(env_id)
    spec, actions = ObservationSpec(env.observation_space, 16), env.action_space.n
    env.close()
    cfg = small_config("categorical")
    cfg.env.id = env_id
    return Agent(spec, actions, cfg), replay


def env_interface_at_16(env_id: str) -> tuple[ActionCodec, ObservationSpec]:
    """The action codec and observation spec of an env, images at env=minatar's 16 x 16."""
    from envs.make import make_env

    env = make_env(env_id)
    codec, spec = ActionCodec(env.action_space), ObservationSpec(env.observation_space, 16)
    env.close()
    return codec, spec

