"""Evaluation: one episode in each of `episodes` parallel envs, greedy or sampled."""

import json
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from agent.agent import Agent
from agent.config import EnvConfig, saved_config
from agent.loop import checkpoint
from agent.loop.acting import ActingPolicy
from agent.loop.driver import Driver, play_episodes
from agent.loop.video import record_episode
from agent.seeds import Seeds
from envs import ActionCodec, ObservationSpec, make_vector_env


class Evaluator:
    def __init__(self, env: EnvConfig, episodes: int, codec: ActionCodec,
                 spec: ObservationSpec, seeds: Seeds, greedy: bool = True):
        self.envs = make_vector_env(env.id, episodes, env.kwargs, **env.wrappers())
        self.codec, self.spec, self.seeds, self.runs = codec, spec, seeds, 0
        self.greedy = greedy

    def __call__(self, agent: Agent) -> dict[str, float]:
        n = self.envs.num_envs
        seed = self.seeds.evaluation(self.runs)
        driver = Driver(self.envs, self.codec, self.spec, seed)
        self.runs += 1
        policy = ActingPolicy(agent, self.codec, n, greedy=self.greedy)
        # Sampled actions draw from torch's generators: forked and seeded per evaluation,
        # so that an evaluation neither moves training's stream nor depends on it.
        devices = [agent.device] if agent.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            episodes = play_episodes(driver, policy)
        returns = np.array([e.ret for e in episodes])
        return {"eval/return": float(returns.mean()), "eval/return_std": float(returns.std()),
                "eval/length": float(np.mean([e.length for e in episodes])),
                "eval/episodes": float(n)}

    def state_dict(self) -> dict:
        return {"runs": self.runs}

    def load_state_dict(self, state: dict) -> None:
        self.runs = state["runs"]

    def close(self) -> None:
        self.envs.close()


def evaluate_checkpoint(target: Path, episodes: int, device: str = "cpu",
                        seed: int = 0) -> dict[str, float]:
    """Weights only: rebuild the agent from the checkpoint's own config, run `episodes`
    episodes (greedy unless its eval.greedy is false), print mean ± std and write eval.json
    into the run folder, with a video of one more greedy episode (eval.mp4) where the env
    renders."""
    path = checkpoint.find(target)
    state = checkpoint.load(path)
    cfg = OmegaConf.to_object(saved_config(state["config"]))
    env = cfg.env
    probe = make_vector_env(env.id, 1, env.kwargs, **env.wrappers())
    codec = ActionCodec(probe.single_action_space)
    spec = ObservationSpec(probe.single_observation_space, env.image_size)
    probe.close()
    agent = Agent(spec, codec, cfg, device)
    agent.load_state_dict(state["agent"])
    seeds = Seeds(seed)
    evaluator = Evaluator(env, episodes, codec, spec, seeds, cfg.eval.greedy)
    result = evaluator(agent) | {"checkpoint": str(path), "env_steps": state["env_steps"]}
    evaluator.close()
    run_dir = path.parent.parent
    (run_dir / "eval.json").write_text(json.dumps(result | {"video": None}, indent=1))
    print(f"eval return {result['eval/return']:.1f} ± {result['eval/return_std']:.1f} over "
          f"{episodes} episodes ({env.id}, checkpoint at {state['env_steps']} env steps)")
    video = record_episode(agent, env, codec, spec, run_dir / "eval.mp4", seeds.video(0))
    if video:  # written after the results, which a failed video must not cost
        result["video"] = str(video)
        (run_dir / "eval.json").write_text(json.dumps(result, indent=1))
        print(f"video: {video}")
    return result
