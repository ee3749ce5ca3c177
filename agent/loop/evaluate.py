"""Greedy evaluation: one episode in each of `episodes` parallel envs."""

import json
from pathlib import Path

import numpy as np
import torch
import yaml
from omegaconf import OmegaConf

from agent.agent import Agent
from agent.config import Config, EnvConfig
from agent.loop import checkpoint
from agent.loop.video import record_episode
from envs import ActionCodec, ObservationSpec, make_vector_env


class Evaluator:
    def __init__(self, env: EnvConfig, episodes: int, codec: ActionCodec,
                 spec: ObservationSpec, seed: int):
        self.envs = make_vector_env(env.id, episodes, env.kwargs, **env.wrappers())
        self.codec, self.spec, self.seed, self.runs = codec, spec, seed, 0

    def __call__(self, agent: Agent) -> dict[str, float]:
        envs = self.envs
        n = envs.num_envs
        obs, _ = envs.reset(seed=self.seed + 1000 * self.runs)
        self.runs += 1
        state = agent.initial_state(n)
        is_first = torch.ones(n)
        returns, lengths = np.zeros(n), np.zeros(n, np.int64)
        running = np.ones(n, bool)
        while running.any():
            obs_t = {k: v.to(agent.device) for k, v in self.spec.to_tensors(obs).items()}
            action, state = agent.policy(obs_t, is_first.to(agent.device), state, greedy=True)
            obs, reward, term, trunc, _ = envs.step(self.codec.to_env(action))
            returns += reward * running
            lengths += running
            running &= ~(term | trunc)
            is_first = torch.zeros(n)
        return {"eval/return": float(returns.mean()), "eval/return_std": float(returns.std()),
                "eval/length": float(lengths.mean()), "eval/episodes": float(n)}

    def close(self) -> None:
        self.envs.close()


def evaluate_checkpoint(target: Path, episodes: int, device: str = "cpu",
                        seed: int = 0) -> dict[str, float]:
    """Weights only: rebuild the agent from the checkpoint's own config, run `episodes`
    greedy episodes, print mean ± std and write eval.json into the run folder, with a video
    of one more greedy episode (eval.mp4) where the env renders."""
    path = checkpoint.find(target)
    state = checkpoint.load(path)
    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Config),
                                              yaml.safe_load(state["config"])))
    env = cfg.env
    probe = make_vector_env(env.id, 1, env.kwargs, **env.wrappers())
    codec = ActionCodec(probe.single_action_space)
    spec = ObservationSpec(probe.single_observation_space, env.image_size)
    probe.close()
    agent = Agent(spec, codec, cfg, device)
    agent.load_state_dict(state["agent"])
    evaluator = Evaluator(env, episodes, codec, spec, seed)
    result = evaluator(agent) | {"checkpoint": str(path), "env_steps": state["env_steps"]}
    evaluator.close()
    run_dir = path.parent.parent
    (run_dir / "eval.json").write_text(json.dumps(result | {"video": None}, indent=1))
    print(f"eval return {result['eval/return']:.1f} ± {result['eval/return_std']:.1f} over "
          f"{episodes} episodes ({env.id}, checkpoint at {state['env_steps']} env steps)")
    video = record_episode(agent, env, codec, spec, run_dir / "eval.mp4", seed)
    if video:  # written after the results, which a failed video must not cost
        result["video"] = str(video)
        (run_dir / "eval.json").write_text(json.dumps(result, indent=1))
        print(f"video: {video}")
    return result
