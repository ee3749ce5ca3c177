"""Range checks that a type system cannot express, run before anything is written."""

import dataclasses
from typing import Any

from omegaconf import DictConfig, OmegaConf

from agent.config import STEP_INPUTS, Config
from agent.errors import ConfigError
from agent.quantizers import registry
from envs.crop import check_window
from envs.observations import FITS


def _require(ok: bool, key: str, value, must: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is invalid: it must be {must}")


def check_quantizer_name(options) -> None:
    """`quantizer.name=vq` renames fsq's options instead of choosing vq's. (A saved run's
    options are a mapping, read with the defaults of the quantizer it names.)"""
    if not dataclasses.is_dataclass(options):
        return
    name, chosen = options.name, type(options).__name__
    if name not in registry.available() or type(options) is not registry.quantizer_class(
            name).Options:
        raise ConfigError(f"quantizer.name={name!r} does not switch quantizers (the options "
                          f"are {chosen}); choose one with the config group: "
                          f"quantizer=NAME, one of {', '.join(registry.available())}")


def holds_value(tree: Any, value: Any) -> bool:
    """Whether `value` is anywhere in nested dicts and lists (an env config's kwargs that
    took `${env.image_size}` as a render size)."""
    if isinstance(tree, dict):
        return any(holds_value(v, value) for v in tree.values())
    if isinstance(tree, list | tuple):
        return any(holds_value(v, value) for v in tree)
    return tree == value


SUITE_KEYS = {"task": "env=dmc and env=mujoco", "game": "env=minatar and env=atari"}
"""The env keys a suite's config builds env.id from, and the configs that read them."""


def check_env_source(env: DictConfig) -> None:
    """env.task and env.game choose an env only where env.id is built from them (the suite
    configs). Elsewhere, or with env.id given directly, they would name the run and sit in
    its config.yaml while another env trains."""
    raw = OmegaConf.to_container(env, resolve=False)
    built_from = str(raw.get("id", ""))
    for key, readers in SUITE_KEYS.items():
        value = raw.get(key)
        if value and f".{key}}}" not in built_from:
            raise ConfigError(
                f"env.{key}={value!r} does not choose the env: env.id={env.id!r} is not "
                f"built from it. With {readers}, choose with env.{key} alone (not env.id); "
                f"with any other env config, drop env.{key}")


def validate(cfg: Config) -> None:
    t, ac = cfg.train, cfg.ac
    check_quantizer_name(cfg.quantizer)
    _require(cfg.steps > 0, "steps", cfg.steps, "> 0")
    _require(cfg.env.num_envs >= 1, "env.num_envs", cfg.env.num_envs, ">= 1")
    _require(cfg.env.obs in ("default", "pixels"), "env.obs", cfg.env.obs, "default or pixels")
    size = cfg.env.image_size
    _require(size in ("auto", "flat") or (isinstance(size, int) and size >= 16
                                          and size % 16 == 0),
             "env.image_size", size, "auto, flat or a multiple of 16, at least 16")
    # flat reads an env's own images as vectors, and auto keeps or shrinks an image of
    # the env's own size; an env config that renders at image_size needs it in pixels.
    renders_at_size = isinstance(size, str) and holds_value(cfg.env.kwargs, size)
    _require(size != "flat" or not (cfg.env.obs == "pixels" or renders_at_size),
             "env.image_size", size,
             "a multiple of 16 where it sets the size of rendered frames (env.obs=pixels, "
             "or an env config that renders at image_size, as dmc and mujoco do); flat is "
             "for an env's own images, e.g. MinAtar's boards")
    _require(size != "auto" or not renders_at_size, "env.image_size", size,
             "a multiple of 16 with an env config that renders at image_size, as dmc and "
             "mujoco do (64 is DreamerV3's); auto is for an env's own images and renders")
    _require(cfg.env.image_fit in FITS, "env.image_fit", cfg.env.image_fit,
             " or ".join(FITS))
    _require(cfg.env.image_fit != "pad" or isinstance(size, int), "env.image_size", size,
             "a multiple of 16 with env.image_fit=pad (the canvas the image is placed in, "
             "e.g. 16 for MinAtar's 10 x 10 boards)")
    if cfg.env.crop is not None:
        check_window(cfg.env.crop)  # an EnvError naming the window's fault
    _require(cfg.model.cnn_depth >= 1, "model.cnn_depth", cfg.model.cnn_depth, ">= 1")
    _require(1 <= cfg.model.cnn_min_res <= 8, "model.cnn_min_res", cfg.model.cnn_min_res,
             "between 1 and 8 (the side every image, 16 x 16 or more, halves towards; "
             "DreamerV3's is 4)")
    _require(cfg.env.action_repeat >= 1, "env.action_repeat", cfg.env.action_repeat, ">= 1")
    _require(cfg.env.time_limit >= 0, "env.time_limit", cfg.env.time_limit,
             ">= 0 (0 keeps the env's own)")
    _require(cfg.env.vector in ("sync", "async"), "env.vector", cfg.env.vector, "sync or async")
    for name in ("model_opt", "actor_opt", "critic_opt"):
        opt = getattr(t, name)
        _require(opt.lr > 0, f"train.{name}.lr", opt.lr, "> 0")
        _require(opt.eps > 0, f"train.{name}.eps", opt.eps, "> 0")
        _require(opt.clip > 0, f"train.{name}.clip", opt.clip, "> 0")
        _require(opt.warmup >= 0, f"train.{name}.warmup", opt.warmup, ">= 0 (updates)")
        _require(opt.agc >= 0, f"train.{name}.agc", opt.agc, ">= 0 (0: off)")
    _require(t.batch_size >= 1, "train.batch_size", t.batch_size, ">= 1")
    _require(t.seq_len >= 2, "train.seq_len", t.seq_len, ">= 2")
    _require(t.train_ratio > 0, "train.train_ratio", t.train_ratio, "> 0")
    _require(t.prefill >= 0, "train.prefill", t.prefill, ">= 0")
    _require(t.free_bits >= 0, "train.free_bits", t.free_bits, ">= 0")
    _require(ac.horizon >= 1, "ac.horizon", ac.horizon, ">= 1")
    _require(0 < ac.gamma <= 1, "ac.gamma", ac.gamma, "in (0, 1]")
    _require(0 <= ac.lam <= 1, "ac.lam", ac.lam, "in [0, 1]")
    _require(ac.entropy >= 0, "ac.entropy", ac.entropy, ">= 0")
    _require(0 <= ac.unimix < 1, "ac.unimix", ac.unimix, "in [0, 1)")
    _require(0 < ac.slow_critic_rate <= 1, "ac.slow_critic_rate", ac.slow_critic_rate,
             "in (0, 1]")
    _require(0 <= ac.retnorm_low < ac.retnorm_high <= 100, "ac.retnorm_low/high",
             (ac.retnorm_low, ac.retnorm_high), "0 <= low < high <= 100")
    _require(ac.starts >= 0, "ac.starts", ac.starts, ">= 0 (0 uses every replayed state)")
    _require(ac.actor_grad in ("reinforce", "dynamics"), "ac.actor_grad", ac.actor_grad,
             "reinforce or dynamics")
    _require(0 <= cfg.replay.recency <= 1, "replay.recency", cfg.replay.recency,
             "in [0, 1] (the share of windows drawn favouring the newest)")
    capacity = cfg.replay.capacity
    _require(capacity == "auto" or (isinstance(capacity, int) and not isinstance(capacity, bool)
                                    and capacity >= t.seq_len * cfg.env.num_envs),
             "replay.capacity", capacity, f"auto, or a number >= train.seq_len * env.num_envs = "
             f"{t.seq_len * cfg.env.num_envs}")
    for key in ("deter", "units", "reward_bins"):
        value = getattr(cfg.model, key)
        _require(value >= 1, f"model.{key}", value, ">= 1")
    _require(cfg.model.layers >= 0, "model.layers", cfg.model.layers, ">= 0")
    _require(cfg.model.terminal_weight > 0, "model.terminal_weight", cfg.model.terminal_weight,
             "> 0 (1 weighs terminal steps as the others)")
    _require(0 <= cfg.model.prior_grad_into_h <= 1, "model.prior_grad_into_h",
             cfg.model.prior_grad_into_h, "in [0, 1]")
    _require(0 <= cfg.model.dyn_grad_into_code <= 1, "model.dyn_grad_into_code",
             cfg.model.dyn_grad_into_code, "in [0, 1]")
    _require(0 <= cfg.model.overshoot < t.seq_len, "model.overshoot", cfg.model.overshoot,
             f"in [0, train.seq_len) = [0, {t.seq_len}) (0: the one-step loss only)")
    _require(cfg.model.step_input in STEP_INPUTS, "model.step_input", cfg.model.step_input,
             " or ".join(STEP_INPUTS))
    _require(cfg.model.image_decoder_start in ("random", "mean_frame"),
             "model.image_decoder_start", cfg.model.image_decoder_start,
             "random or mean_frame")
    _require(cfg.eval.every >= 0, "eval.every", cfg.eval.every, ">= 0 (0 disables)")
    _require(cfg.eval.video_every >= 0, "eval.video_every", cfg.eval.video_every,
             ">= 0 (0 records none)")
    _require(cfg.eval.episodes >= 1, "eval.episodes", cfg.eval.episodes, ">= 1")
    _require(cfg.log.openloop_every >= 0, "log.openloop_every", cfg.log.openloop_every,
             ">= 0 (0 disables)")
    _require(cfg.log.every >= 1, "log.every", cfg.log.every, ">= 1")
    _require(cfg.checkpoint.every >= 0, "checkpoint.every", cfg.checkpoint.every,
             ">= 0 (0: only at the end)")
    _require(cfg.nan.patience >= 1, "nan.patience", cfg.nan.patience, ">= 1")
    _require(cfg.checkpoint.keep >= 1, "checkpoint.keep", cfg.checkpoint.keep, ">= 1")
    _require(cfg.wandb.mode in ("online", "offline", "disabled"), "wandb.mode",
             cfg.wandb.mode, "online, offline or disabled")
    _require(cfg.wandb.fallback in ("offline", "error"), "wandb.fallback", cfg.wandb.fallback,
             "offline or error")
    _require(cfg.wandb.init_timeout > 0, "wandb.init_timeout", cfg.wandb.init_timeout, "> 0")
    _require(cfg.precision in ("fp32", "bf16"), "precision", cfg.precision, "fp32 or bf16")
    _require(cfg.threads >= 0, "threads", cfg.threads, ">= 0 (0 uses every core)")
    _require(cfg.device == "auto" or cfg.device.split(":")[0] in ("cpu", "cuda", "mps"),
             "device", cfg.device, "cpu, cuda, cuda:N, mps or auto")
