"""A video of one greedy episode, for envs that render to rgb_array."""

from pathlib import Path

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
import torch

from agent.agent import Agent
from agent.config import EnvConfig
from envs import ActionCodec, make_env


def record_episode(agent: Agent, env_cfg: EnvConfig, codec: ActionCodec, path: Path,
                   seed: int = 0, max_frames: int = 10_000) -> Path | None:
    """Play one greedy episode and write it to `path` (mp4). Returns None, after saying why,
    when the env cannot render frames."""
    env = make_env(env_cfg.id, env_cfg.kwargs, **env_cfg.wrappers(), render_mode="rgb_array")
    try:
        if "rgb_array" not in env.metadata.get("render_modes", []):
            print(f"no video: {env_cfg.id} does not render to rgb_array")
            return None
        frames = play(agent, env, codec, seed, max_frames)
    except gym.error.DependencyNotInstalled as err:
        print(f"no video: {err}")
        return None
    finally:
        env.close()
    fps = env.metadata.get("render_fps") or 30
    iio.imwrite(path, np.stack(frames), fps=fps, codec="libx264", macro_block_size=1)
    return path


def play(agent: Agent, env: gym.Env, codec: ActionCodec, seed: int, max_frames: int
         ) -> list[np.ndarray]:
    """The rendered frames of one greedy episode, from the reset to the last step."""
    obs, _ = env.reset(seed=seed)
    frames = [env.render()]
    state, is_first = agent.initial_state(1), torch.ones(1, device=agent.device)
    done = False
    while not done and len(frames) < max_frames:
        obs_t = torch.as_tensor(np.asarray(obs)[None], device=agent.device)
        action, state = agent.policy(obs_t, is_first, state, greedy=True)
        obs, _, term, trunc, _ = env.step(codec.to_env(action)[0])
        frames.append(env.render())
        done, is_first = term or trunc, torch.zeros_like(is_first)
    return frames
