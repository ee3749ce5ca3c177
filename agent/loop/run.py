"""A training run: set up (checks only, nothing written), then the loop."""

import dataclasses
import os
import random
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import yaml

from agent.agent import Agent, NonFiniteError
from agent.config import Config
from agent.errors import ConfigError
from agent.loop import checkpoint
from agent.loop.acting import Collector
from agent.loop.counters import Clock
from agent.loop.driver import Driver
from agent.loop.evaluate import Evaluator
from agent.loop.logger import Logger, MetricMeans
from agent.loop.openloop import open_loop, plot_open_loop, write_open_loop_video
from agent.loop.ratio import Ratio
from agent.loop.replay import Replay
from agent.loop.resume import cut_metrics
from agent.loop.signals import StopSignal
from agent.loop.sweep import write_summary
from agent.loop.video import record_episode
from agent.validation import validate
from envs import ActionCodec, ObservationSpec, make_vector_env
from envs.suites import exactly_restorable


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


def available_memory() -> int:
    """Bytes the OS reports as available (MemAvailable), or physical memory elsewhere."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(replay_bytes: int, capacity: int) -> None:
    available = available_memory()
    gib = 1024**3
    # Writing a checkpoint copies the replay's kept steps: count them twice.
    if 2 * replay_bytes > available:
        raise ConfigError(f"replay.capacity={capacity} needs {replay_bytes / gib:.1f} GiB of "
                          f"replay memory, and as much again while a checkpoint is written, "
                          f"but {available / gib:.1f} GiB is available; lower "
                          f"replay.capacity")
    print(f"replay: {capacity} steps preallocated, {replay_bytes / gib:.3f} GiB "
          f"({available / gib:.1f} GiB available)", file=sys.stderr)


class NonFiniteStop(RuntimeError):
    """Too many consecutive updates were skipped for non-finite values."""


def check_run_dir(run_dir: Path) -> None:
    """A run folder may exist only if it is empty: nothing of an earlier run is overwritten."""
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise ConfigError(f"run_dir={str(run_dir)!r} already exists and is not empty; "
                          f"pass a new run_dir")


class Run:
    """Everything a run needs, built and checked before run_dir is touched. With `resume`,
    run_dir already holds the run and its latest valid checkpoint is where it continues."""

    def __init__(self, cfg: Config, resume: bool = False):
        validate(cfg)
        self.cfg, self.resume = cfg, resume
        self.run_dir = Path(cfg.run_dir)
        if resume:
            self.resume_from = checkpoint.find(self.run_dir)
            if not exactly_restorable(cfg.env.id):
                warnings.warn(f"{cfg.env.id}: the episodes in progress are rebuilt by replaying "
                              f"their actions, but this env's own random state (sticky "
                              f"actions) cannot be restored, so they may continue differently "
                              f"than without the interruption", stacklevel=2)
        else:
            check_run_dir(self.run_dir)
        self.device = resolve_device(cfg.device)
        torch.set_num_threads(cfg.threads or os.cpu_count() or 1)
        seed_everything(cfg.seed)
        env = cfg.env
        self.envs = make_vector_env(env.id, env.num_envs, env.kwargs, env.vector,
                                    **env.wrappers())
        self.codec = ActionCodec(self.envs.single_action_space)
        self.spec = ObservationSpec(self.envs.single_observation_space, env.image_size)
        self.agent = Agent(self.spec, self.codec, cfg, self.device)
        check_memory(Replay.bytes_needed(cfg.replay.capacity, self.spec, self.codec.size),
                     cfg.replay.capacity)
        self.replay = Replay(cfg.replay.capacity, env.num_envs, self.spec, self.codec.size,
                             seed=cfg.seed)
        self.evaluator = (Evaluator(env, cfg.eval.episodes, self.codec, self.spec,
                                    seed=cfg.seed + 10_000) if cfg.eval.every else None)
        self.driver = Driver(self.envs, self.codec, self.spec, cfg.seed)
        self.collector = Collector(self.agent, self.codec, env.num_envs,
                                   np.random.default_rng(cfg.seed))
        self.ratio = Ratio(cfg.train.train_ratio, cfg.train.batch_size, cfg.train.seq_len)
        self.means = MetricMeans()
        self.clock = Clock()
        self.faults = 0  # consecutive updates skipped for non-finite values
        self.diagnostic_rng = np.random.default_rng(cfg.seed + 30_000)

    def start(self) -> Logger:
        """Create run_dir and write the resolved config; the first writes of the run. On
        resume: restore the checkpoint and cut metrics.jsonl back to it."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config = dataclasses.asdict(self.cfg)
        (self.run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        wandb_id = None
        if self.resume:
            state = checkpoint.load(self.resume_from)
            self.load_state_dict(state)
            cut_metrics(self.run_dir / "metrics.jsonl", self.clock.steps)
            wandb_id = state["wandb_id"] or None
        logger = Logger(self.run_dir, config, self.cfg.wandb, self.cfg.steps,
                        self.cfg.log.progress, resume_id=wandb_id)
        logger.progress(self.clock.steps)
        return logger

    def train(self) -> None:
        cfg, clock, collector = self.cfg, self.clock, self.collector
        logger = self.start()
        stop = StopSignal()
        try:
            while clock.steps < cfg.steps and not stop.received:
                collector.explore = clock.steps < cfg.train.prefill
                step, finished = self.driver.step(collector)
                self.replay.add(*step)
                clock.episodes += finished
                clock.steps += cfg.env.num_envs
                logger.progress(cfg.env.num_envs)
                if not collector.explore and self.replay.can_sample(cfg.train.seq_len):
                    try:
                        self.update(self.ratio(clock.steps - cfg.train.prefill))
                    except NonFiniteStop as err:
                        self.save(logger)  # skipped updates changed no weight
                        raise NonFiniteStop(f"training stopped: {err}; the checkpoint at env "
                                            f"step {clock.steps} is from before the fault "
                                            f"(no weight changed since)") from None
                self.report(logger, done=clock.steps >= cfg.steps)
            self.save(logger)
            if stop.received:
                print(f"stopped by {stop.received} at env step {clock.steps}; checkpoint "
                      f"written to {self.run_dir / 'checkpoints'}", file=sys.stderr)
                return
            write_summary(self.run_dir, {"steps": clock.steps, "updates": clock.updates,
                                         **clock.wall(), **{k: v for k, v in logger.last.items()
                                                            if k.startswith("eval/")}})
        finally:
            stop.restore()
            logger.close()
            self.envs.close()
            if self.evaluator:
                self.evaluator.close()

    def report(self, logger: Logger, done: bool) -> None:
        """Evaluate, log and checkpoint when each is due."""
        cfg, clock = self.cfg, self.clock
        if self.evaluator and (clock.steps - clock.last_eval >= cfg.eval.every or done):
            clock.last_eval = clock.steps
            logger.log(clock.steps, self.evaluator(self.agent) | clock.wall())
            if cfg.eval.video_every and self.evaluator.runs % cfg.eval.video_every == 0:
                self.record_video(logger)
        every = cfg.log.openloop_every
        if every and clock.steps // every > (clock.steps - cfg.env.num_envs) // every:
            self.plot_open_loop(logger)
        if clock.steps - clock.last_log >= cfg.log.every or done:
            logger.log(clock.steps, self.means.pop() | clock.lap())
            logger.code_usage(clock.steps, self.agent.world_model.quantizer.usage.last_counts)
        if cfg.checkpoint.every and clock.steps - clock.last_checkpoint >= cfg.checkpoint.every:
            clock.last_checkpoint = clock.steps
            self.save(logger)

    def plot_open_loop(self, logger: Logger) -> None:
        """A diagnostic that leaves training as it was: its own replay generator, and torch's
        RNG state restored after sampling the prior."""
        seq_len = self.cfg.train.seq_len
        if not self.replay.can_sample(seq_len):
            return
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            batch = self.replay.sample(3, seq_len, rng=self.diagnostic_rng).to(self.device)
            result = open_loop(self.agent.world_model, batch, context=max(1, seq_len // 4))
        folder, step = self.run_dir / "openloop", self.clock.steps
        logger.media(step, "openloop/plot",
                     plot_open_loop(result, folder / f"openloop-{step:010d}.png"))
        for key in self.spec.image_keys:  # truth | prediction | error, frame by frame
            path = folder / f"openloop-{key}-{step:010d}.mp4"
            try:
                logger.media(step, f"openloop/{key}", write_open_loop_video(result, key, path))
            except Exception as err:  # a diagnostic must not end the run
                print(f"no open-loop video: {type(err).__name__}: {err}", file=sys.stderr)

    def record_video(self, logger: Logger) -> None:
        folder = self.run_dir / "videos"
        folder.mkdir(exist_ok=True)
        path = record_episode(self.agent, self.cfg.env, self.codec, self.spec,
                              folder / f"eval-{self.clock.steps:010d}.mp4",
                              seed=self.cfg.seed + 20_000 + self.evaluator.runs)
        if path is not None:
            logger.media(self.clock.steps, "eval/video", path)

    def update(self, count: int) -> None:
        """Run `count` updates on batches sampled from replay."""
        t = self.cfg.train
        if count <= 0:
            return
        tic = time.perf_counter()
        for _ in range(count):
            batch = self.replay.sample(t.batch_size, t.seq_len).to(self.device)
            try:
                self.means.add(self.agent.train_step(batch))
                self.faults = 0
            except NonFiniteError as err:
                self.faults += 1
                print(f"update skipped at env step {self.clock.steps}: {err} "
                      f"({self.faults} in a row)", file=sys.stderr)
                if self.faults >= self.cfg.nan.patience:
                    raise NonFiniteStop(f"{self.faults} consecutive updates had {err} "
                                        f"(nan.patience={self.cfg.nan.patience})") from None
            self.clock.updates += 1
        self.clock.train_time += time.perf_counter() - tic

    def state_dict(self) -> dict:
        """Everything a resumed run needs to continue as if it had never stopped."""
        agent = self.agent
        return {
            "agent": agent.state_dict(),
            "model_opt": agent.model_opt.opt.state_dict(),
            "actor_opt": agent.actor_opt.opt.state_dict(),
            "critic_opt": agent.critic_opt.opt.state_dict(),
            "replay": self.replay.state_dict(),
            "driver": self.driver.state_dict(),
            "collector": self.collector.state_dict(),
            "clock": self.clock.state_dict(),
            "means": self.means.state_dict(),
            "ratio_done": self.ratio.done,
            "eval_runs": self.evaluator.runs if self.evaluator else 0,
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
            "env_steps": self.clock.steps, "updates": self.clock.updates,
            "config": yaml.safe_dump(dataclasses.asdict(self.cfg), sort_keys=False),
        }

    def load_state_dict(self, state: dict) -> None:
        agent = self.agent
        agent.load_state_dict(state["agent"])
        for name in ("model_opt", "actor_opt", "critic_opt"):
            getattr(agent, name).opt.load_state_dict(state[name])
        self.replay.load_state_dict(state["replay"])
        self.driver.load_state_dict(state["driver"])
        self.collector.load_state_dict(state["collector"])
        self.clock.load_state_dict(state["clock"])
        self.means.load_state_dict(state["means"])
        self.ratio.done = state["ratio_done"]
        if self.evaluator:
            self.evaluator.runs = state["eval_runs"]
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])

    def save(self, logger: Logger) -> None:
        state = self.state_dict()
        state["wandb_id"] = logger.run.id if logger.run is not None else ""
        checkpoint.save(self.run_dir / "checkpoints", self.clock.steps, state,
                        keep=self.cfg.checkpoint.keep)
