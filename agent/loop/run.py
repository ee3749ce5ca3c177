"""A training run: set up (checks only, nothing written), then the loop.

    each env step:  act (random during prefill) -> replay.add -> updates the ratio asks for
                    -> evaluate / log / open-loop diagnostics / checkpoint, each when due
"""

import dataclasses
import random
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from agent.agent import Agent
from agent.config import Config
from agent.errors import ConfigError
from agent.loop import checkpoint
from agent.loop.acting import ActingPolicy
from agent.loop.cores import set_torch_threads, warn_if_cores_busy
from agent.loop.counters import Counters
from agent.loop.driver import Driver
from agent.loop.evaluate import Evaluator
from agent.loop.files import remove_temporaries, write_text_atomically
from agent.loop.lock import RunDirLock, check_free
from agent.loop.logger import Logger, MetricMeans, wandb_mode
from agent.loop.memory import announce, replay_capacity
from agent.loop.metrics_file import METRICS, events_until, logged_past, read_events
from agent.loop.openloop import open_loop, plot_open_loop, write_open_loop_video
from agent.loop.openloop_errors import context_steps, measure_open_loop
from agent.loop.ratio import Every, Ratio
from agent.loop.replay import Replay
from agent.loop.resume import remove_media_after
from agent.loop.setup import check_empty, check_run_dir, resolve_device, seed_global_rngs
from agent.loop.signals import StopSignal, startup_stops_undo
from agent.loop.sweep import check_unfinished, set_error_aside, set_summary_aside, write_summary
from agent.loop.video import record_episode
from agent.optim import NonFiniteError
from agent.seeds import Seeds, own_randomness
from agent.validation import validate
from envs import ActionCodec, ObservationSpec, make_vector_env
from envs.rendering import prepare_rendering
from envs.suites import exactly_restorable


class NonFiniteStop(RuntimeError):
    """Too many consecutive updates were skipped for non-finite values."""


def warn_of_surprises(cfg: Config) -> None:
    """Settings that are allowed but do what a user may not expect: said before the run."""
    if cfg.train.prefill >= cfg.steps:  # allowed: a smoke test of an env's plumbing
        warnings.warn(f"train.prefill={cfg.train.prefill} >= steps={cfg.steps}: this run acts "
                      f"at random throughout and never trains; lower train.prefill or raise "
                      f"steps to train", stacklevel=3)
    if cfg.env.vector == "async":
        warnings.warn("env.vector=async: this run resumes only in sync mode "
                      "(resume=RUN_DIR env.vector=sync), which rebuilds its envs in place",
                      stacklevel=3)


class Run:
    """Everything a run needs, built and checked before run_dir is touched. With `resume`,
    run_dir already holds the run and its latest valid checkpoint is where it continues."""

    def __init__(self, cfg: Config, resume: bool = False):
        validate(cfg)
        self.resume = resume
        self.run_dir = Path(cfg.run_dir)
        self.lock = RunDirLock(self.run_dir)
        if resume:
            check_free(self.run_dir)
            try:
                self.resume_from = checkpoint.find(self.run_dir)
            except checkpoint.CheckpointError as err:
                raise checkpoint.CheckpointError(
                    f"{err}: there is nothing to resume; move the folder aside and start the "
                    f"run again") from None
            check_unfinished(self.run_dir, cfg.steps)
            if not exactly_restorable(cfg.env.id):
                warnings.warn(f"{cfg.env.id}: the episodes in progress are rebuilt by replaying "
                              f"their actions, but this env's own random state (sticky "
                              f"actions) cannot be restored, so they may continue differently "
                              f"than without the interruption", stacklevel=2)
        else:
            check_run_dir(self.run_dir)
        warn_of_surprises(cfg)
        self.wandb_mode = wandb_mode(cfg.wandb)
        self.device = resolve_device(cfg.device)
        set_torch_threads(cfg.threads)  # before the agent, the replay and a checkpoint load
        seeds = self.seeds = Seeds(cfg.seed)
        seed_global_rngs(seeds.training)
        env = cfg.env
        if cfg.eval.video_every:  # videos render: choose the headless backend (MuJoCo's)
            prepare_rendering(env.id)  # before the env's package is first imported
        self.envs = make_vector_env(env.id, env.num_envs, env.kwargs, env.vector,
                                    **env.wrappers())
        self.codec = ActionCodec(self.envs.single_action_space)
        self.spec = ObservationSpec(self.envs.single_observation_space, env.image_size,
                                    env.image_fit)
        self.agent = Agent(self.spec, self.codec, cfg, self.device)
        step_bytes = Replay.bytes_per_step(self.spec, self.codec.size)
        capacity, why = replay_capacity(cfg.replay.capacity, step_bytes,
                                        cfg.train.seq_len * env.num_envs,
                                        sharing=cfg.replay.sharing)
        announce(capacity, step_bytes, why)
        # The resolved number is what the run keeps (config.yaml, resume).
        self.cfg = cfg = dataclasses.replace(
            cfg, replay=dataclasses.replace(cfg.replay, capacity=capacity))
        self.replay = Replay(capacity, env.num_envs, self.spec, self.codec.size,
                             seed=seeds.training)
        self.evaluator = (Evaluator(env, cfg.eval.episodes, self.codec, self.spec, seeds,
                                    cfg.eval.greedy)
                          if cfg.eval.every else None)
        self.driver = Driver(self.envs, self.codec, self.spec,
                             seeds.training_envs(env.num_envs))
        self.policy = ActingPolicy(self.agent, self.codec, env.num_envs,
                                   np.random.default_rng(seeds.training))
        self.ratio = Ratio(cfg.train.train_ratio, cfg.train.batch_size, cfg.train.seq_len)
        self.every = {"eval": Every(cfg.eval.every), "video": Every(cfg.eval.video_every),
                      "log": Every(cfg.log.every), "openloop": Every(cfg.log.openloop_every),
                      "checkpoint": Every(cfg.checkpoint.every)}
        self.means = MetricMeans()
        self.counters = Counters()
        self.faults = 0  # consecutive updates skipped for non-finite values
        self.diagnostic_rng = seeds.diagnostics()
        self.wandb_id = None
        if resume:  # loaded and checked before anything is written
            state = checkpoint.load(self.resume_from)
            try:
                self.load_state_dict(state)
            except (KeyError, RuntimeError, ValueError) as err:
                raise checkpoint.CheckpointError(
                    f"{self.resume_from} does not fit this run "
                    f"({(str(err).splitlines() or [type(err).__name__])[0]})") from None
            self.wandb_id = state["wandb_id"] or None
            done = self.counters.steps
            if done >= cfg.steps + cfg.env.num_envs:  # n envs overshoot steps by < n
                raise ConfigError(f"steps={cfg.steps} is below the {done} env steps "
                                  f"{self.resume_from.name} already trained: pass steps={done} "
                                  f"or more (a run is not cut short by resuming it)")
            # read (and checked) now, written in start(): a damaged file stops the resume
            # before anything in the folder changes
            self.metrics_kept = events_until(self.run_dir / METRICS, done)
            if self.wandb_id and logged_past(self.run_dir / METRICS, done):
                # wandb keeps one value per step and drops a step logged again, so the
                # steps retrained from here go to a new wandb run of the same name.
                print(f"wandb: run {self.wandb_id} logged past env step {done}, where this "
                      f"resume starts; logging to a new wandb run from here "
                      f"(metrics.jsonl, cut back to step {done}, holds the whole run)",
                      file=sys.stderr)
                self.wandb_id = None
        self.saved_step = self.counters.steps if resume else None  # the state on disk
        # Last: the warning comes only once every check passed (a refused run says only why).
        warn_if_cores_busy(cfg.threads, self.device)

    def parts(self) -> dict[str, Any]:
        """What a checkpoint holds, each part with its state_dict: the one list of them."""
        parts = {"agent": self.agent, "replay": self.replay, "driver": self.driver,
                 "policy": self.policy, "counters": self.counters, "means": self.means,
                 "ratio": self.ratio, **{f"every_{k}": v for k, v in self.every.items()}}
        return parts | ({"evaluator": self.evaluator} if self.evaluator else {})

    def start(self) -> Logger:
        """Take run_dir (an OS lock held for the run's life) and start the logger. A failure
        here, Ctrl-C and SIGTERM included, leaves the folder as it was (a new folder is
        removed); the files are written after it, by `write_start`."""
        new_folder = not self.run_dir.exists()
        wandb_before = set((self.run_dir / "wandb").glob("*"))
        self.lock.acquire()
        try:
            if not self.resume:
                check_empty(self.run_dir)  # again, now that no other run can start in it
            config = dataclasses.asdict(self.cfg)
            logger = Logger(self.run_dir, config, self.cfg.wandb, self.cfg.steps,
                            self.cfg.log.progress, resume_id=self.wandb_id,
                            wandb_mode=self.wandb_mode)
        except BaseException:
            if new_folder:
                shutil.rmtree(self.run_dir, ignore_errors=True)
            else:
                for made in set((self.run_dir / "wandb").glob("*")) - wandb_before:
                    shutil.rmtree(made, ignore_errors=True)
            self.lock.release()
            raise
        return logger

    def write_start(self, logger: Logger) -> None:
        """The resolved config, and on resume the metrics and plots cut back to the
        checkpoint, a finished run's summary and a crashed run's error set aside."""
        write_text_atomically(self.run_dir / "config.yaml",
                              yaml.safe_dump(dataclasses.asdict(self.cfg), sort_keys=False))
        if self.resume:
            remove_temporaries(self.run_dir)  # what a kill during a write left behind
            set_summary_aside(self.run_dir)
            set_error_aside(self.run_dir, self.counters.steps)
            # the events after the checkpoint are logged again as its steps are trained
            write_text_atomically(self.run_dir / METRICS, self.metrics_kept)
            remove_media_after(self.run_dir, self.counters.steps)
        logger.progress(self.counters.steps)

    def train(self) -> str | None:
        """Train to cfg.steps; returns the name of the signal that stopped it early (after a
        checkpoint), or None when it finished."""
        cfg, counters = self.cfg, self.counters
        with startup_stops_undo():
            logger = self.start()
        stop = StopSignal()  # from here a stop ends the run with a checkpoint
        try:
            self.write_start(logger)
            while counters.steps < cfg.steps and not stop.received:
                self.env_step(logger)
                self.periodic(logger, done=counters.steps >= cfg.steps)
            self.save(logger)
            if stop.received:
                print(f"stopped by {stop.received} at env step {counters.steps}; checkpoint "
                      f"written to {self.run_dir / 'checkpoints'}", file=sys.stderr)
                return stop.received
            write_summary(self.run_dir, {"steps": counters.steps, "updates": counters.updates,
                                         **counters.wall(), **self.last_eval()})
            return None
        finally:
            try:
                stop.restore()
                logger.close()
                self.envs.close()
                if self.evaluator:
                    self.evaluator.close()
            finally:  # even if closing fails (a full disk): a sweep's worker runs on
                self.lock.release()

    def env_step(self, logger: Logger) -> None:
        """Act once in every env, store the step, and run the updates now due."""
        cfg, counters = self.cfg, self.counters
        self.policy.explore = counters.steps < cfg.train.prefill
        step, finished = self.driver.step(self.policy)
        self.replay.add(*step)
        counters.finished += finished
        counters.steps += cfg.env.num_envs
        logger.progress(cfg.env.num_envs)
        if self.policy.explore or not self.replay.can_sample(cfg.train.seq_len):
            return
        try:
            self.update(self.ratio(counters.steps - cfg.train.prefill))
        except NonFiniteStop as err:
            self.save(logger)  # skipped updates changed no weight
            raise NonFiniteStop(f"training stopped: {err}; the checkpoint at env step "
                                f"{counters.steps} is from before the fault (no weight "
                                f"changed since)") from None

    def periodic(self, logger: Logger, done: bool) -> None:
        """Evaluate, log, plot and checkpoint, each when it is due."""
        steps, every = self.counters.steps, self.every
        if self.evaluator and (every["eval"](steps) or done):
            logger.log(steps, self.evaluator(self.agent) | self.counters.wall())
            if every["video"](self.evaluator.runs):
                self.record_video(logger)
        if every["openloop"](steps):
            self.plot_open_loop(logger)
        if every["log"](steps) or done:
            logger.log(steps, self.means.pop() | self.counters.lap() | self.open_loop_errors())
            logger.code_usage(steps, self.agent.world_model.quantizer.usage.last_counts)
        if every["checkpoint"](steps):
            self.save(logger)

    def plot_open_loop(self, logger: Logger) -> None:
        """A diagnostic that leaves training as it was: its own replay generator, and torch's
        RNG state restored after sampling the prior."""
        seq_len = self.cfg.train.seq_len
        if not self.replay.can_sample(seq_len):
            return
        with own_randomness(self.device):
            batch = self.replay.sample(3, seq_len, rng=self.diagnostic_rng).to(self.device)
            result = open_loop(self.agent.world_model, batch, context=context_steps(seq_len))
        folder, step = self.run_dir / "openloop", self.counters.steps
        logger.media(step, "openloop/plot",
                     plot_open_loop(result, folder / f"openloop-{step:010d}.png"))
        for key in self.spec.image_keys:  # truth | prediction | error, frame by frame
            path = folder / f"openloop-{key}-{step:010d}.mp4"
            try:
                logger.media(step, f"openloop/{key}", write_open_loop_video(result, key, path))
            except Exception as err:  # a diagnostic must not end the run
                print(f"no open-loop video: {type(err).__name__}: {err}", file=sys.stderr)

    def open_loop_errors(self) -> dict[str, float]:
        """model/openloop_* from windows of their own (a generator per env step), so they
        change nothing about training and a resumed run measures the same."""
        if not self.cfg.log.openloop_errors:
            return {}
        return measure_open_loop(self.agent.world_model, self.replay,
                                 self.seeds.open_loop_errors(self.counters.steps),
                                 context_steps(self.cfg.train.seq_len), self.device)

    def record_video(self, logger: Logger) -> None:
        folder = self.run_dir / "videos"
        folder.mkdir(exist_ok=True)
        path = record_episode(self.agent, self.cfg.env, self.codec, self.spec,
                              folder / f"eval-{self.counters.steps:010d}.mp4",
                              seed=self.seeds.video(self.evaluator.runs))
        if path is not None:
            logger.media(self.counters.steps, "eval/video", path)
        elif not any(folder.iterdir()):
            folder.rmdir()  # no video made yet: no empty folder that suggests there are

    def update(self, count: int) -> None:
        """Run `count` updates on batches sampled from replay."""
        t = self.cfg.train
        if count <= 0:
            return
        tic = time.perf_counter()
        for _ in range(count):
            batch = self.replay.sample(t.batch_size, t.seq_len,
                                       recency=self.cfg.replay.recency).to(self.device)
            try:
                self.means.add(self.agent.train_step(batch))
                self.faults = 0
            except NonFiniteError as err:
                self.faults += 1
                print(f"update skipped at env step {self.counters.steps}: {err} "
                      f"({self.faults} in a row)", file=sys.stderr)
                if self.faults >= self.cfg.nan.patience:
                    raise NonFiniteStop(f"{self.faults} consecutive updates had {err} "
                                        f"(nan.patience={self.cfg.nan.patience})") from None
            self.counters.updates += 1
        self.counters.train_time += time.perf_counter() - tic

    def state_dict(self) -> dict:
        """Everything a resumed run needs to continue as if it had never stopped."""
        return {**{name: part.state_dict() for name, part in self.parts().items()},
                "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
                "env_steps": self.counters.steps, "updates": self.counters.updates,
                "config": yaml.safe_dump(dataclasses.asdict(self.cfg), sort_keys=False)}

    def load_state_dict(self, state: dict) -> None:
        for name, part in self.parts().items():
            if name in state or name != "evaluator":  # evaluation may be newly turned on
                part.load_state_dict(state[name])
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])

    def save(self, logger: Logger) -> None:
        """Checkpoint the run, once per env step: the state only changes as steps are
        taken, and writing a step's checkpoint again would put its good copy at risk (a kill
        between the new file and its checksum). The events logged so far reach the disk
        first, so a checkpoint never runs ahead of its metrics."""
        if self.counters.steps == self.saved_step:
            return
        logger.sync()
        state = self.state_dict()
        state["wandb_id"] = logger.run.id if logger.run is not None else ""
        checkpoint.save(self.run_dir / "checkpoints", self.counters.steps, state,
                        keep=self.cfg.checkpoint.keep)
        self.saved_step = self.counters.steps

    def last_eval(self) -> dict[str, float]:
        """The latest evaluation's eval/* figures and the env step it was made at, from the
        metrics file: a resumed run may have logged none itself."""
        evals = [e for e in read_events(self.run_dir / METRICS) if "eval/return" in e]
        if not evals:
            return {}
        return ({k: v for k, v in evals[-1].items() if k.startswith("eval/")}
                | {"eval_step": evals[-1]["step"]})
