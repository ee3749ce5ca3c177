"""A training run: set up (checks only, nothing written), then the loop."""

import dataclasses
import os
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from agent import checkpoint
from agent.agent import Agent
from agent.config import Config
from agent.driver import Driver
from agent.evaluate import Evaluator
from agent.logger import Logger, MetricMeans
from agent.ratio import Ratio
from agent.replay import Replay
from agent.sweep import write_summary
from agent.validation import ConfigError, validate
from envs import ActionCodec, make_vector_env, observation_size


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} but no CUDA GPU is visible; use device=cpu or auto")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def check_run_dir(run_dir: Path) -> None:
    """A run folder may exist only if it is empty: nothing of an earlier run is overwritten."""
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise ConfigError(f"run_dir={str(run_dir)!r} already exists and is not empty; "
                          f"pass a new run_dir")


class Run:
    """Everything a run needs, built and checked before run_dir is touched."""

    def __init__(self, cfg: Config):
        validate(cfg)
        self.cfg = cfg
        self.run_dir = Path(cfg.run_dir)
        check_run_dir(self.run_dir)
        self.device = resolve_device(cfg.device)
        torch.set_num_threads(cfg.threads or os.cpu_count() or 1)
        seed_everything(cfg.seed)
        env = cfg.env
        self.envs = make_vector_env(env.id, env.num_envs, env.kwargs, env.vector)
        self.codec = ActionCodec(self.envs.single_action_space)
        obs_dim = observation_size(self.envs.single_observation_space)
        self.agent = Agent(obs_dim, self.codec.size, cfg, self.device)
        self.replay = Replay(cfg.replay.capacity, env.num_envs, (obs_dim,), torch.float32,
                             self.codec.size, seed=cfg.seed)
        self.evaluator = (Evaluator(env.id, env.kwargs, cfg.eval.episodes, self.codec,
                                    seed=cfg.seed + 10_000) if cfg.eval.every else None)
        self.rng = np.random.default_rng(cfg.seed)
        self.means = MetricMeans()

    def start(self) -> Logger:
        """Create run_dir and write the resolved config; the first writes of the run."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config = dataclasses.asdict(self.cfg)
        (self.run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        return Logger(self.run_dir, config, self.cfg.wandb, self.cfg.steps, self.cfg.log.progress)

    def train(self) -> None:
        cfg = self.cfg
        logger = self.start()
        driver = Driver(self.envs, self.codec, cfg.seed)
        ratio = Ratio(cfg.train.train_ratio, cfg.train.batch_size, cfg.train.seq_len)
        collector = Collector(self.agent, self.codec, cfg.env.num_envs, self.rng)
        clock = Clock()
        last_eval = last_checkpoint = 0
        stop = StopSignal()
        try:
            while clock.steps < cfg.steps and not stop.received:
                collector.explore = clock.steps < cfg.train.prefill
                step, finished = driver.step(collector)
                self.replay.add(*step)
                clock.episodes += finished
                clock.steps += cfg.env.num_envs
                logger.progress(cfg.env.num_envs)
                if not collector.explore and self.replay.can_sample(cfg.train.seq_len):
                    self.update(ratio(clock.steps - cfg.train.prefill), clock)
                done = clock.steps >= cfg.steps
                if self.evaluator and (clock.steps - last_eval >= cfg.eval.every or done):
                    last_eval = clock.steps
                    logger.log(clock.steps, self.evaluator(self.agent) | clock.wall())
                if clock.steps - clock.last_log >= cfg.log.every or done:
                    logger.log(clock.steps, self.means.pop() | clock.lap())
                    usage = self.agent.world_model.quantizer.usage
                    logger.code_usage(clock.steps, usage.last_counts)
                if cfg.checkpoint.every and clock.steps - last_checkpoint >= cfg.checkpoint.every:
                    last_checkpoint = clock.steps
                    self.save(clock, logger)
            self.save(clock, logger)
            if stop.received:
                print(f"stopped by {stop.received} at env step {clock.steps}; checkpoint "
                      f"written to {self.run_dir / 'checkpoints'}", file=sys.stderr)
                return
            write_summary(self.run_dir, {"steps": clock.steps, "updates": clock.updates,
                                         "wall_s": clock.wall()["perf/wall_s"],
                                         **{k: v for k, v in logger.last.items()
                                            if k.startswith("eval/")}})
        finally:
            stop.restore()
            logger.close()
            self.envs.close()
            if self.evaluator:
                self.evaluator.close()

    def save(self, clock: "Clock", logger: Logger) -> None:
        agent = self.agent
        checkpoint.save(self.run_dir / "checkpoints", clock.steps, {
            "agent": agent.state_dict(),
            "model_opt": agent.model_opt.opt.state_dict(),
            "actor_opt": agent.actor_opt.opt.state_dict(),
            "critic_opt": agent.critic_opt.opt.state_dict(),
            "env_steps": clock.steps, "updates": clock.updates,
            "config": yaml.safe_dump(dataclasses.asdict(self.cfg), sort_keys=False),
            "wandb_id": logger.run.id if logger.run is not None else "",
        }, keep=self.cfg.checkpoint.keep)

    def update(self, count: int, clock: "Clock") -> None:
        """Run `count` updates on batches sampled from replay."""
        t = self.cfg.train
        if count <= 0:
            return
        tic = time.perf_counter()
        for _ in range(count):
            batch = self.replay.sample(t.batch_size, t.seq_len).to(self.device)
            self.means.add(self.agent.train_step(batch))
        clock.updates += count
        clock.train_time += time.perf_counter() - tic


class StopSignal:
    """Turns SIGINT and SIGTERM (Ctrl-C, cluster preemption) into a flag the loop checks, so
    the run ends between steps with a checkpoint and closed logs."""

    def __init__(self):
        self.received: str | None = None
        self.previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.previous[sig] = signal.signal(sig, self.handle)
            except ValueError:  # not the main thread (e.g. a thread-based launcher)
                pass

    def handle(self, signum, frame) -> None:
        self.received = signal.Signals(signum).name

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


class Collector:
    """The policy the driver calls: uniform random actions while `explore` (prefill), then
    the agent's, carrying its recurrent state from call to call."""

    def __init__(self, agent: Agent, codec: ActionCodec, num_envs: int,
                 rng: np.random.Generator):
        self.agent, self.codec, self.rng = agent, codec, rng
        self.state = agent.initial_state(num_envs)
        self.explore = True

    def __call__(self, obs: torch.Tensor, is_first: torch.Tensor) -> torch.Tensor:
        if self.explore:
            return self.codec.random(obs.shape[0], self.rng)
        device = self.agent.device
        action, self.state = self.agent.policy(obs.to(device), is_first.to(device), self.state)
        return action


@dataclasses.dataclass
class Clock:
    """Counters of a run, and the rates since the last log event."""

    steps: int = 0
    updates: int = 0
    train_time: float = 0.0
    episodes: list = dataclasses.field(default_factory=list)
    last_log: int = 0
    last_updates: int = 0
    start: float = dataclasses.field(default_factory=time.perf_counter)
    last_time: float = dataclasses.field(default_factory=time.perf_counter)

    def wall(self) -> dict[str, float]:
        return {"perf/wall_s": time.perf_counter() - self.start}

    def lap(self) -> dict[str, float]:
        now = time.perf_counter()
        elapsed = max(now - self.last_time, 1e-9)
        metrics = {
            "train/updates": float(self.updates),
            "train/episodes_finished": float(len(self.episodes)),
            "perf/env_steps_per_s": (self.steps - self.last_log) / elapsed,
            "perf/updates_per_s": (self.updates - self.last_updates) / elapsed,
            "perf/train_time_frac": self.train_time / elapsed,
            "perf/wall_s": now - self.start,
        }
        if self.episodes:
            metrics["train/return"] = float(np.mean([e.ret for e in self.episodes]))
            metrics["train/length"] = float(np.mean([e.length for e in self.episodes]))
        self.episodes, self.train_time = [], 0.0
        self.last_log, self.last_updates, self.last_time = self.steps, self.updates, now
        return metrics
