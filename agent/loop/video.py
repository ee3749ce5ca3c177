"""A video of one greedy episode, for envs that render to rgb_array."""

from pathlib import Path

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np
import torch

from agent.agent import Agent
from agent.config import EnvConfig
from envs import ActionCodec, ObservationSpec, make_env


def record_episode(agent: Agent, env_cfg: EnvConfig, codec: ActionCodec,
                   spec: ObservationSpec, path: Path, seed: int = 0,
                   max_frames: int = 10_000) -> Path | None:
    """Play one greedy episode and stream its frames to `path` (mp4). A video is a
    diagnostic: when the env cannot render, or anything else fails, say why, leave no
    partial file and return None, so the caller's results are never lost to it."""
    try:
        env = make_env(env_cfg.id, env_cfg.kwargs, **env_cfg.wrappers(),
                       render_mode="rgb_array")
    except Exception as err:  # e.g. an env whose constructor takes no render_mode
        print(f"no video: {env_cfg.id} cannot be made with render_mode='rgb_array' ({err})")
        return None
    try:
        if "rgb_array" not in env.metadata.get("render_modes", []):
            print(f"no video: {env_cfg.id} does not render to rgb_array")
            return None
        # One frame per agent step, which spans action_repeat of the env's own frames.
        fps = (env.metadata.get("render_fps") or 30) / env_cfg.action_repeat
        with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=1) as writer:
            play(agent, env, codec, spec, seed, max_frames, writer.append_data)
        return path
    except Exception as err:
        print(f"no video: {type(err).__name__}: {err}")
        path.unlink(missing_ok=True)
        return None
    finally:
        env.close()


def play(agent: Agent, env: gym.Env, codec: ActionCodec, spec: ObservationSpec, seed: int,
         max_frames: int, show) -> int:
    """One greedy episode, each rendered frame (the reset's, then every step's) passed to
    `show`; returns the number of frames."""
    obs, _ = env.reset(seed=seed)
    show(env.render())
    state, is_first = agent.initial_state(1), torch.ones(1, device=agent.device)
    frames, done = 1, False
    while not done and frames < max_frames:
        batch = {k: np.asarray(v)[None] for k, v in obs.items()} if spec.dict else \
            np.asarray(obs)[None]
        obs_t = {k: v.to(agent.device) for k, v in spec.to_tensors(batch).items()}
        action, state = agent.policy(obs_t, is_first, state, greedy=True)
        obs, _, term, trunc, _ = env.step(codec.to_env(action)[0])
        show(env.render())
        frames, done, is_first = frames + 1, term or trunc, torch.zeros_like(is_first)
    return frames
