"""Evaluation: one episode in each of `episodes` parallel envs, greedy or sampled."""

import json
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from agent.agent import Agent
from agent.config import EnvConfig, refuse_unused, saved_config
from agent.loop import checkpoint
from agent.loop.acting import ActingPolicy
from agent.loop.driver import Driver, play_episodes
from agent.loop.files import write_text_atomically
from agent.loop.setup import resolve_device
from agent.loop.video import record_episode
from agent.seeds import Seeds
from envs import ActionCodec, ObservationSpec, make_vector_env
from envs.rendering import prepare_rendering


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


# What applies to evaluate=: the agent and its env come from the checkpoint's own config.
EVALUATE_KEYS = ("evaluate", "eval.episodes", "eval.greedy", "device", "seed", "threads")


def check_evaluate_overrides(overrides: list[str]) -> None:
    """Refuse a setting that evaluate= would otherwise ignore without a word."""
    refuse_unused(overrides, (*EVALUATE_KEYS, "hydra", "wandb.", "log."),
                  f"evaluate=: the agent and its env are rebuilt from the checkpoint's own "
                  f"config; only {', '.join(EVALUATE_KEYS[1:])} apply (wandb.* and log.* "
                  f"are accepted and unused)")


def outputs(path: Path) -> tuple[Path, Path]:
    """Where the results go: eval.json and eval.mp4 in the run folder of a checkpoint in
    RUN/checkpoints/, else beside the checkpoint, named after it."""
    if path.parent.name == "checkpoints" and (path.parent.parent / "config.yaml").exists():
        return path.parent.parent / "eval.json", path.parent.parent / "eval.mp4"
    return path.with_name(f"{path.stem}-eval.json"), path.with_name(f"{path.stem}-eval.mp4")


def env_interface(env: EnvConfig) -> tuple[ActionCodec, ObservationSpec]:
    """The action codec and observation spec of the env this config makes (made once to
    read its spaces)."""
    probe = make_vector_env(env.id, 1, env.kwargs, **env.wrappers())
    codec = ActionCodec(probe.single_action_space)
    spec = ObservationSpec(probe.single_observation_space, env.image_size, env.image_fit)
    probe.close()
    return codec, spec


def agent_from_checkpoint(state: dict, device: str = "cpu"
                          ) -> tuple[Agent, ActionCodec, ObservationSpec]:
    """The agent a loaded checkpoint holds, built from the checkpoint's own config (its env
    is made once to read the spaces), with the env's action codec and observation spec."""
    cfg = OmegaConf.to_object(saved_config(state["config"]))
    codec, spec = env_interface(cfg.env)
    agent = Agent(spec, codec, cfg, resolve_device(device))
    agent.load_state_dict(state["agent"])
    return agent, codec, spec


def evaluate_checkpoint(target: Path, episodes: int, device: str = "cpu", seed: int = 0,
                        greedy: bool | None = None) -> dict[str, float]:
    """Weights only: rebuild the agent from the checkpoint's own config, run `episodes`
    episodes (greedy unless `greedy` is False, or, when it is None, the checkpoint's
    eval.greedy is), print mean ± std and write the results (`outputs`), with a video of
    one more greedy episode where the env renders."""
    path = checkpoint.find(target)
    state = checkpoint.load(path)
    # The video renders: the headless backend is chosen before the env's package loads.
    prepare_rendering(saved_config(state["config"]).env.id)
    agent, codec, spec = agent_from_checkpoint(state, device)
    cfg, env = agent.cfg, agent.cfg.env
    seeds = Seeds(seed)
    greedy = cfg.eval.greedy if greedy is None else greedy
    evaluator = Evaluator(env, episodes, codec, spec, seeds, greedy)
    result = evaluator(agent) | {"checkpoint": str(path), "env_steps": state["env_steps"],
                                 "greedy": greedy}
    evaluator.close()
    results, video_path = outputs(path)
    write_text_atomically(results, json.dumps(result | {"video": None}, indent=1))
    print(f"eval return {result['eval/return']:.1f} ± {result['eval/return_std']:.1f} over "
          f"{episodes} episodes, {'greedy' if greedy else 'sampled'} ({env.id}, checkpoint "
          f"at {state['env_steps']} env steps): {results}")
    video = record_episode(agent, env, codec, spec, video_path, seeds.video(0))
    if video:  # written after the results, which a failed video must not cost
        result["video"] = str(video)
        write_text_atomically(results, json.dumps(result, indent=1))
        print(f"video: {video}")
    return result
