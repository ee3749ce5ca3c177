"""The typed configuration schema. Hydra composes `configs/` on top of it, so an unknown key
or a value of the wrong type fails before anything runs; `validate` then checks ranges."""

import json
from dataclasses import dataclass, field
from typing import Any

import yaml
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from agent.errors import ConfigError
from agent.quantizers import registry
from envs.suites import dmc_env_id


@dataclass
class EnvConfig:
    name: str = "cartpole"
    """Short name used in run folder names."""
    id: str = "CartPole-v1"
    """Any registered gymnasium id; `module:Name-vN` imports `module` first."""
    game: str = ""
    """The game of a suite (env=minatar, env=atari): their configs build env.id from it."""
    task: str = ""
    """The task of a suite (env=dmc: walker_walk; env=mujoco: HalfCheetah-v5): their configs
    build env.id from it."""
    num_envs: int = 1
    """Parallel training envs (gymnasium vector env)."""
    vector: str = "sync"
    """`sync` steps envs in this process, `async` in subprocesses."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments for gymnasium.make."""
    obs: str = "default"
    """`default`: the env's observations; `pixels`: its rgb_array renders instead."""
    image_size: Any = "auto"
    """Image observations are resized to image_size x image_size (a multiple of 16, at
    least 16), or `auto`: an image that is already square with a side that is a multiple
    of 16 and at most 64 keeps its size, any other is resized to 64 x 64; or `flat`: every
    image is a vector of its pixels in [0, 1] for the MLP encoder (small symbolic boards,
    e.g. MinAtar's 10 x 10)."""
    image_fit: str = "resize"
    """How an image of another size becomes image_size x image_size: `resize` (nearest
    neighbour for binary images, area or bilinear for others), or `pad`: the image as it is
    at the centre of an empty canvas, for boards smaller than image_size (MinAtar's 10 x 10
    in 16 x 16 keeps every cell one pixel, where resizing draws cells 1 or 2 pixels wide
    by where they are). `pad` needs an integer image_size at least the image's sides."""
    action_repeat: int = 1
    """Env steps (frames) per agent step (rewards summed). `steps` and every other step count
    in the config are agent steps; metrics.jsonl also logs `frames` = agent steps x
    action_repeat, the x axis of published DMC and Atari scores."""
    time_limit: int = 0
    """Episode limit in env steps; 0 keeps the env's registered limit."""
    max_pool: bool = False
    """With action_repeat > 1: observe the pixel-wise max of the last two frames (Atari)."""
    crop: list[float] | None = None
    """[top, bottom, left, right]: the window of an image observation kept before it is
    resized, as fractions of its height and width (CartPole's renders: [0.37, 0.83, 0, 1],
    the band its cart and pole move in); unset keeps the whole image."""

    def wrappers(self) -> dict[str, Any]:
        """The wrapper settings envs.make_env takes."""
        return {"action_repeat": self.action_repeat, "time_limit": self.time_limit,
                "pixels": self.obs == "pixels", "max_pool": self.max_pool,
                "crop": None if self.crop is None else list(self.crop)}


STEP_INPUTS = ("joint", "separate")
"""model.step_input's values."""


@dataclass
class ModelConfig:
    deter: int = 256
    """GRU state size (h)."""
    units: int = 256
    """Width of every MLP."""
    layers: int = 2
    """Hidden layers of every MLP."""
    cnn_depth: int = 16
    """Channels of the first stage of the image encoder and the last of the decoder (they
    double at every stride-2 stage)."""
    cnn_min_res: int = 1
    """The image encoder halves the image (at most four times) until its side would drop
    below this, and the decoder starts from there: 1 gives every image four stages (a 16 x
    16 image ends at 1 x 1); DreamerV3 stops at 4 (a 64 x 64 image gets four stages either
    way)."""
    image_likelihood: str = "mse"
    """How image decoders score a reconstruction: `mse` (squared error on pixel / 255 - 0.5,
    DreamerV3's) or `bernoulli` (each pixel's cross-entropy, pixel / 255 the probability of
    it being lit: for boards of lit and dark cells such as MinAtar's, where a one-cell
    object missed costs at most 1 in squared error; agent/model/convnets.py)."""
    reward_bins: int = 255
    """Two-hot bins of the reward and critic heads on the symlog scale."""
    prior_unimix: float = 0.01
    """Uniform mass mixed into the prior over codes."""
    reward_outscale: float = 0.0
    """The reward head's output layer starts at PyTorch's default initialisation times this
    (0: zeros, DreamerV3's choice)."""
    critic_outscale: float = 0.0
    """The same for the critic's output layer."""
    actor_outscale: float = 1.0
    """The same for the actor's output layer (DreamerV3: 0.01, a policy that starts near
    uniform, or with its mean near zero for continuous actions, in every state)."""
    terminal_weight: float = 1.0
    """Weight of the terminal steps in the continue head's loss, the others' being 1
    (DreamerV3: 1). Terminations a learned policy rarely reaches are a few in ten thousand
    replayed steps, and the head then predicts they continue: CartPole's cart past the
    track's edge at 0.95-0.99 (docs/results/cartpole.md)."""
    step_input: str = "joint"
    """How the sequence model reads the previous code and action: `joint` (one Linear ->
    LayerNorm -> SiLU block over both, concatenated: the action is a few of its inputs
    beside the code's hundreds) or `separate` (a block of `units` for each, concatenated,
    so the action's embedding is as wide and as normalised as the code's, as in DreamerV3;
    the GRU's input is then twice as wide, 3 x deter x units more weights). DreamerV3 also
    embeds h that way and scales continuous actions by max(1, |a|); neither is done here."""
    image_decoder_start: str = "random"
    """How image decoders start: `random` (PyTorch's initialisation) or `mean_frame` (a
    learned per-pixel image added to the output, set to the first replayed batch's mean,
    with the last layer at zero: the first prediction is the mean frame). On MinAtar's
    sparse boards and CartPole's renders `mean_frame` keeps the code from collapsing in
    the first updates (docs/results/minatar.md, env-targets.md); env=cartpole_pixels sets
    it. On MinAtar's games it was no overall gain at 100k steps, so it is not the default."""
    prior_grad_into_h: float = 1.0
    """Share of the dynamics loss's gradient (and model.overshoot's) that reaches h (and
    through it the GRU, the step input, the previous codes and so the encoder): 1 trains the
    sequence model for the prior too, as DreamerV3 does; 0 leaves the prior to read an h
    shaped by the decoder, reward and continue heads alone; values between scale that
    gradient linearly. The prior head itself always gets its whole gradient, and the
    forward pass (losses, imagination) is the same at every share. On MinAtar, 0 keeps
    fsq's code from collapsing (docs/results/minatar.md); on CartPole it learns worse
    (docs/results/cartpole.md)."""
    dyn_grad_into_code: float = 1.0
    """Share of the dynamics loss's gradient that reaches the codes fed to the sequence model
    (and through them the encoder): 1, DreamerV3's; 0 leaves the encoder to the losses that
    read each step's own code (reconstruction, reward, continue, the representation loss
    and the quantizer's terms) while the GRU, the step input and the prior head learn from
    the dynamics loss in full. The forward pass is the same at every share; a share below
    1 runs the GRU over each replayed window twice per update. With fsq (no
    representation gradient) this path is the largest push on the encoder on CartPole from
    pixels and on the vector task once solved (agent.analysis.loss_grads); at 0 vector
    CartPole learns more slowly and its code drifts about as much
    (docs/results/cartpole.md, docs/results/env-targets.md)."""
    overshoot: int = 0
    """Steps beyond the next that the dynamics loss also scores, rolling the prior on its
    own sampled codes from every replayed state (WorldModel.overshoot_loss; scale
    loss_scales.overshoot). 0: DreamerV3's one-step loss only. Imagination rolls the prior
    15 steps on its samples where training scores one; on CartPole from pixels its rollouts
    lose the pole within five, and with 5 here they keep it (median return at 50k env steps
    246.7 over three seeds, against 133.7; docs/results/env-targets.md), and the jump in
    dynamics loss that ended every pixel run without it came later (at train ratio 128,
    after about 4,700 updates instead of 1,800-2,900). On CartPole from its state vector 5
    hurts: two seeds of two fall back below 250 after 4k env steps
    (docs/results/cartpole.md)."""


@dataclass
class LossScales:
    recon: float = 1.0
    reward: float = 1.0
    cont: float = 1.0
    dyn: float = 0.5
    rep: float = 0.1
    overshoot: float = 0.5
    """The dynamics loss further ahead (model.overshoot), weighed as `dyn`."""
    quant: float = 1.0
    """Multiplies every quantizer term (those carry their own weights, e.g. VQ's beta)."""


@dataclass
class OptimConfig:
    lr: float = 1e-4
    eps: float = 1e-8
    clip: float = 1000.0
    """Global gradient-norm clip."""
    warmup: int = 0
    """Updates over which the learning rate rises linearly to `lr` (the first update takes
    lr / warmup; DreamerV3: 1,000); 0: the full rate from the first update."""
    agc: float = 0.0
    """Adaptive gradient clipping, after the global clip: each weight tensor's gradient is
    cut to at most `agc` × max(1e-3, the tensor's norm) before Adam sees it; 0: off.
    DreamerV3's current code clips every module so at 0.3 (with LaProp, not Adam, and no
    global clip)."""


@dataclass
class TrainConfig:
    batch_size: int = 16
    seq_len: int = 64
    train_ratio: float = 512.0
    """Replayed time steps per env step: updates per env step = train_ratio / (B * T)."""
    prefill: int = 1000
    """Env steps of uniform random actions before training starts."""
    free_bits: float = 1.0
    """Nats below which the dynamics and representation losses give no gradient."""
    model_opt: OptimConfig = field(default_factory=lambda: OptimConfig(1e-4, 1e-8, 1000.0))
    actor_opt: OptimConfig = field(default_factory=lambda: OptimConfig(3e-5, 1e-5, 100.0))
    critic_opt: OptimConfig = field(default_factory=lambda: OptimConfig(3e-5, 1e-5, 100.0))


@dataclass
class ActorCriticConfig:
    horizon: int = 15
    gamma: float = 0.997
    lam: float = 0.95
    entropy: float = 3e-4
    """Actor entropy bonus."""
    unimix: float = 0.01
    """Uniform mass mixed into the discrete policy."""
    slow_critic_rate: float = 0.02
    """EMA rate of the slow critic, per update."""
    slow_critic_reg: float = 1.0
    """Weight of the regulariser pulling the critic toward the slow critic."""
    retnorm_decay: float = 0.99
    retnorm_low: float = 5.0
    retnorm_high: float = 95.0
    starts: int = 0
    """Imagination start states per update; 0 uses all B * T replayed states."""
    actor_grad: str = "reinforce"
    """How the actor learns from its imagined returns. `reinforce`: the score-function
    gradient of its actions' log-probabilities times the advantages (DreamerV3, any action
    space). `dynamics`: the normalised λ-returns' own gradient, backpropagated through the
    imagined rewards, values and dynamics into each action, with no baseline (Dreamer
    v1/v2 on continuous control: reparameterised normals; discrete actions pass the
    straight-through gradient of their probabilities, as Dreamer v2's did; on MinAtar
    worse than REINFORCE, docs/results/minatar.md). The
    gradient reaches the next state through h and the sampled code (a discrete code by the
    straight-through gradient of its expected value under the prior); the continue
    probabilities weight the returns without a gradient of their own."""
    replay_value: float = 0.0
    """Weight of the critic's loss on the replayed windows: λ-returns of the real rewards,
    bootstrapped on the critic, on detached states (DreamerV3: 0.3, bootstrapped on the
    imagined returns, and its gradient also trains the world model); 0 leaves it out and
    the critic learns from imagination alone."""


@dataclass
class ReplayConfig:
    capacity: Any = "auto"
    """Env steps kept (the oldest are overwritten), or `auto`: the most, up to 1M, whose
    buffer and its copy in a checkpoint fit in half the memory available at start (the
    choice and its reason are printed, and the number is what the run's config.yaml
    keeps)."""
    sharing: int = 1
    """Runs started together on this machine that divide `auto`'s memory between them; a
    sweep's local (joblib) launcher sets it to the jobs it runs at once."""
    recency: float = 0.0
    """Share of each training batch's windows drawn favouring the newest data (probability
    about 1 / (age + 1), DreamerV3's recency selector), the rest uniformly; 0 is uniform, as
    DreamerV3's default. With uniform draws from a growing replay, what a run sees late (a
    cart near the track's edge once CartPole's policy balances) is trained on several times
    less than its first steps (docs/results/cartpole.md)."""


@dataclass
class EvalConfig:
    every: int = 1000
    """Env steps between evaluations; 0 disables evaluation."""
    episodes: int = 10
    """Episodes per evaluation."""
    greedy: bool = True
    """True: act with the policy's mode. False: sample actions as in training (what the
    Atari and MinAtar literature reports; a greedy policy can get stuck where a sampled one
    does not), from a stream of its own so that training's randomness is unchanged."""
    video_every: int = 0
    """Every N-th evaluation also records one greedy episode to run_dir/videos/ (and wandb),
    for envs that render to rgb_array; 0 records none."""


@dataclass
class CheckpointConfig:
    every: int = 5000
    """Env steps between checkpoints (one is also written at the end and on SIGINT/SIGTERM);
    0 writes only those."""
    keep: int = 3
    """Newest checkpoints kept in run_dir/checkpoints."""


@dataclass
class NanConfig:
    patience: int = 10
    """Consecutive updates skipped for a non-finite loss or gradient before the run stops
    (with a checkpoint from before the fault)."""


@dataclass
class WandbConfig:
    mode: str = "offline"
    """online | offline | disabled. Offline runs live in run_dir/wandb; `wandb sync` uploads."""
    fallback: str = "offline"
    """What an online run does when wandb cannot start (no API key, no connection):
    `offline` logs offline with one warning line, `error` stops with one line. Either way
    nothing of the run is left behind by the failed start."""
    init_timeout: float = 60.0
    """Seconds to wait for the wandb server when starting an online run."""
    project: str = "discrete-world-models"
    entity: str | None = None
    group: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class LogConfig:
    every: int = 500
    """Env steps between training-metric log events."""
    progress: bool = True
    """Show a progress bar on the terminal."""
    openloop_every: int = 5000
    """Env steps between open-loop prediction plots (run_dir/openloop/, and wandb): a
    replayed sequence observed for a few steps, then imagined; 0 disables."""
    openloop_errors: bool = True
    """At every log event, also log the open-loop prediction errors of reward and observation
    at horizons 1, 5 and 15 (model/openloop_*; agent/loop/openloop_errors.py)."""


@dataclass
class Config:
    env: EnvConfig = field(default_factory=EnvConfig)
    quantizer: Any = MISSING
    """Chosen with `quantizer=NAME`; its options are the quantizer's own Options dataclass."""
    model: ModelConfig = field(default_factory=ModelConfig)
    loss_scales: LossScales = field(default_factory=LossScales)
    train: TrainConfig = field(default_factory=TrainConfig)
    ac: ActorCriticConfig = field(default_factory=ActorCriticConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    nan: NanConfig = field(default_factory=NanConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)
    log: LogConfig = field(default_factory=LogConfig)
    seed: int = 0
    steps: int = 10_000
    """Total env steps (agent steps: with env.action_repeat, each is that many frames)."""
    device: str = "cpu"
    """cpu | cuda | cuda:N | auto (a GPU if one is found)."""
    threads: int = 0
    """Torch CPU threads; 0 uses every core this process may use (its CPU set, within a
    container's CPU limit), with a warning when other processes keep some busy: torch
    threads that share a core slow every update several-fold."""
    precision: str = "fp32"
    """fp32 | bf16: bf16 autocast of the networks in an update (quantizers and losses stay
    in fp32). Pays off on GPUs; on most CPUs bf16 is slower."""
    compile: bool = False
    """torch.compile the world-model loss and the imagination step (falls back to eager,
    with a warning, if compiling fails). The first compile of a model shape takes minutes
    on a CPU; later runs of the same shapes reuse torch's on-disk cache."""
    run_dir: str = MISSING
    """The run's folder; it must not already hold a run. In a multirun (-m) it is
    sweeps/<sweep>/<the job's overrides>."""
    sweep: str = "ablation"
    """Name of a multirun: its folder is sweeps/<sweep> and it is the wandb group of its
    runs. Running the same multirun again skips the runs that finished."""
    report: str | None = None
    """A sweep folder to summarise (report.md, curves.png, codebook.png) instead of training."""
    resume: str | None = None
    """A run folder to continue from its latest valid checkpoint; key=value overrides on the
    same command line apply on top of its saved config: steps, eval.* and RUN_KEYS; a change
    of anything else is refused (agent/loop/resume.py)."""
    evaluate: str | None = None
    """A run folder or checkpoint file: load its weights, run eval.episodes episodes
    (eval.greedy), print mean ± std and write eval.json into the run folder (beside a loose
    checkpoint), instead of training."""
    report_threshold: float | None = None
    """Eval return that counts as solved in reports; None takes the env's reward_threshold."""
    report_reference: float | None = None
    """A published score to compare with in reports: drawn as a dashed line on the curves
    and stated in report.md (e.g. DreamerV3's at the same budget, from
    benchmarks/reference_scores.json)."""
    report_reference_label: str = "reference"
    """What report_reference is, for the legend and report.md (e.g. "DreamerV3, 100k
    frames")."""


RUN_KEYS = ("run_dir", "threads", "device", "compile", "env.vector", "replay.sharing",
            "wandb.", "log.", "checkpoint.", "nan.", "sweep", "report", "resume", "evaluate")
"""Settings (prefixes of dotted keys) of how a run is carried out, not of what it trains or
measures: runs that differ only in them are the same arm of an ablation, and they may
change when a run resumes."""


def is_run_key(key: str) -> bool:
    return key.startswith(RUN_KEYS)


def override_key(override: str) -> str:
    """The dotted key of a command-line override: `++eval.greedy=false` -> eval.greedy."""
    return override.lstrip("+~").partition("=")[0]


def refuse_unused(overrides: list[str], applies: tuple[str, ...], why: str) -> None:
    """A command that uses only the keys starting with one of `applies` (report=,
    evaluate=) refuses any other it would ignore without a word; `why` says what it uses."""
    for override in overrides:
        if not override_key(override).startswith(applies):
            raise ConfigError(f"`{override}` does not apply to {why}")


def flatten(tree: dict, prefix: str = "") -> dict:
    """Nested settings as dotted keys ({"train.train_ratio": 256, ...}); lists as JSON."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = json.dumps(value) if isinstance(value, list) else value
    return flat


def unflatten(flat: dict) -> dict:
    """flatten's inverse: dotted keys as nested settings, JSON lists as lists."""
    tree: dict = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        listed = isinstance(value, str) and value.startswith("[")
        node[leaf] = json.loads(value) if listed else value
    return tree


def comparable(flat: dict) -> dict:
    """Flattened settings as comparisons should see them: a replay that keeps every step of
    the run (nothing evicted) trains the same whatever its capacity, so that capacity reads
    `whole run` (`auto` resolves to different numbers on machines with different memory)."""
    capacity, steps, envs = (flat.get(k) for k in ("replay.capacity", "steps", "env.num_envs"))
    if isinstance(capacity, int) and isinstance(steps, int) and isinstance(envs, int) and (
            capacity // envs >= -(-steps // envs)):
        return flat | {"replay.capacity": "whole run"}
    return flat


def changed_settings(held: dict, asked: dict) -> dict[str, tuple]:
    """Each dotted setting that differs between a saved run (`held`, flattened) and a
    config (`asked`, flattened): {key: (held value, asked value)}. Run keys are left out,
    and so is an `auto` replay capacity (a run keeps the number it resolved to)."""
    held, asked = comparable(held), comparable(asked)
    differ = {}
    for key in sorted(held.keys() | asked.keys()):
        if is_run_key(key) or (key == "replay.capacity" and asked.get(key) == "auto"):
            continue
        if held.get(key) != asked.get(key):
            differ[key] = (held.get(key), asked.get(key))
    return differ


def saved_config(text: str) -> DictConfig:
    """A run's saved config.yaml (or a checkpoint's copy of it) as a typed node of the
    schema; overrides can still be applied before `OmegaConf.to_object`."""
    return OmegaConf.merge(OmegaConf.structured(Config), yaml.safe_load(text))


def saved_flat_settings(flat: dict) -> dict:
    """A run's settings saved flattened (a benchmark result keeps them), with the defaults
    of keys added since, as saved_settings gives them for a config.yaml."""
    return flatten(saved_settings(yaml.safe_dump(unflatten(flat))))


def saved_settings(text: str) -> dict:
    """A run's saved config.yaml as plain values, with the defaults of keys added since it
    ran (the quantizer's options included): a run from before a setting existed ran with
    that setting's default. A config the schema can no longer read is returned as saved."""
    saved = yaml.safe_load(text)
    try:
        cfg = saved_config(text)
        options = registry.quantizer_class(saved["quantizer"]["name"]).Options
        cfg.quantizer = OmegaConf.merge(OmegaConf.structured(options), saved["quantizer"])
    except (ValueError, KeyError, TypeError, OmegaConfBaseException):
        return saved
    return OmegaConf.to_container(cfg, resolve=True)


# `${camel:space_invaders}` -> SpaceInvaders: suite configs build gymnasium ids from games.
OmegaConf.register_new_resolver(
    "camel", lambda name: "".join(w.capitalize() for w in str(name).split("_")), replace=True)
# `${for_id:${env.id},CartPole-v1,10,1}` -> 10 while env.id is CartPole-v1, else 1: an env
# config's tuning for its own env, which `env.id=OTHER` on that config does not inherit.
OmegaConf.register_new_resolver(
    "for_id", lambda env_id, own_id, own, other: own if env_id == own_id else other,
    replace=True)
# `${dmc:walker_walk}` -> dm_control/walker-walk-v0 (env=dmc).
OmegaConf.register_new_resolver("dmc", lambda task: dmc_env_id(str(task)), replace=True)
# `${one_folder:env.id=ALE/Pong-v5}` -> env.id=ALE%2FPong-v5: a sweep job's folder (and
# the name its outcome is filed under) stays one folder whatever its overrides hold.
OmegaConf.register_new_resolver("one_folder", lambda name: str(name).replace("/", "%2F"),
                                replace=True)
ConfigStore.instance().store(name="schema", node=Config)
# `quantizer=NAME` selects a registered quantizer's Options, whenever it registers.
registry.on_register(lambda name, cls: ConfigStore.instance().store(
    group="quantizer", name=name, node=cls.Options))
