"""A video of one greedy episode, for envs that render to rgb_array."""

from pathlib import Path

import imageio.v2 as imageio
import torch

from agent.agent import Agent
from agent.config import EnvConfig
from agent.loop.acting import ActingPolicy
from agent.loop.driver import Driver, play_episodes
from agent.seeds import own_randomness
from envs import ActionCodec, ObservationSpec, make_vector_env


def record_episode(agent: Agent, env_cfg: EnvConfig, codec: ActionCodec,
                   spec: ObservationSpec, path: Path, seed: int = 0,
                   max_frames: int = 10_000) -> Path | None:
    """Play one greedy episode and stream its frames (the reset's, then every step's) to
    `path` (mp4). A video is a diagnostic: when the env cannot render, or anything else
    fails, say why, leave no partial file and return None, so the caller's results are never
    lost to it."""
    try:
        envs = make_vector_env(env_cfg.id, 1, env_cfg.kwargs, **env_cfg.wrappers(),
                               render_mode="rgb_array")
    except Exception as err:  # e.g. an env whose constructor takes no render_mode
        print(f"no video: {env_cfg.id} cannot be made with render_mode='rgb_array' ({err})")
        return None
    try:
        if "rgb_array" not in envs.metadata.get("render_modes", []):
            print(f"no video: {env_cfg.id} does not render to rgb_array")
            return None
        # One frame per agent step, which spans action_repeat of the env's own frames.
        fps = (envs.metadata.get("render_fps") or 30) / env_cfg.action_repeat
        with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=1) as writer:
            driver = Driver(envs, codec, spec, seed)

            def film() -> None:
                writer.append_data(envs.call("render")[0])

            film()
            # A greedy policy may still sample (a categorical code while acting): from a
            # stream of its own, so filming never moves training's.
            with own_randomness(agent.device):
                torch.manual_seed(seed)
                play_episodes(driver, ActingPolicy(agent, codec, 1, greedy=True), film,
                              max_steps=max_frames - 1)
        return path
    except Exception as err:
        print(f"no video: {type(err).__name__}: {err}")
        path.unlink(missing_ok=True)
        return None
    finally:
        envs.close()
