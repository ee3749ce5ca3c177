"""Where training time goes, measured in one process: prints a table and writes JSON.

    python benchmarks/speed.py [--sizes cpu xs s] [--compile both] [--repeats 5] [--profile]
                               [--obs vector|pixels]

Per model size (the CPU default; DreamerV3 "XS" and "S" with 32 x 32 categorical latents and
imagination from all B * T states), eager and compiled (`compile=true`):
  1. world-model half (Agent.world_model_gradients: forward + backward) on a B x T =
     16 x 64 batch;
  2. behaviour half (Agent.behavior_gradients: imagination, horizon 15, + actor and critic
     forward + backward) from the configured start states;
  3. the full update (Agent.train_step: 1 + 2 + the optimizers), and the first one, which
     includes compiling;
  4. policy inference per env step for a batch of N envs, and env steps/s (the env as
     training makes it, before observations are converted to tensors);
  5. env steps/s and updates/s of real training (eager, fp32) at the default train ratio;
plus the FLOPs of 1 and 2 (torch.utils.flop_counter) over the full update's time, as a
fraction of the FLOP/s of a large float32 matmul measured in the same run, and with
--profile the top ops and the share of the step spent outside ops (Python overhead).
The env is the config's (CartPole-v1 unless --overrides says otherwise); `--obs pixels`
measures all of it on its 64 x 64 renders (CNN encoder and decoder; env steps include
rendering). End-to-end env steps/s and updates/s during real training are in every
run's metrics (`perf/`); benchmarks/cartpole.py reports them.
"""

import argparse
import json
import platform
import statistics
import tempfile
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import numpy as np
import torch
from common import load_config
from torch.utils.flop_counter import FlopCounterMode

import agent.config  # noqa: F401  (registers the schema)
import agent.quantizers  # noqa: F401
from agent.agent import Agent
from agent.data import Batch
from agent.loop.run import Run
from envs import ActionCodec, ObservationSpec, make_vector_env

ROOT = Path(__file__).resolve().parents[1]
# The CPU default; DreamerV3's XS (sheeprl's preset, for benchmarks/sheeprl_update.py) and S
# sizes with 32 x 32 categorical latents and imagination from all B * T replayed states.
LATENTS_32X32 = ["quantizer=categorical", "quantizer.groups=32", "quantizer.classes=32",
                 "ac.starts=0"]
SIZES = {"cpu": [], "xs": ["size=xs", "model.layers=1", *LATENTS_32X32],  # as sheeprl's XS
         "s": ["size=s", *LATENTS_32X32],
         "12m": ["model.deter=640", "model.units=600", *LATENTS_32X32]}  # 12M parameters
# A 1M-step replay of 64 x 64 x 3 frames would preallocate 12 GiB; 10k steps cover the
# short training runs here.
OBS = {"vector": [], "pixels": ["env.obs=pixels", "replay.capacity=10000"]}


def median_time(fn, repeats: int, warmup: int = 2, device: str = "cpu") -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        tic = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def flops(fn) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops()


def matmul_flops_per_s(device: str, n: int = 1024, repeats: int = 10) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    return 2 * n**3 / median_time(lambda: a @ b, repeats, device=device)


def random_obs(spec: ObservationSpec, lead: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """Observations of the spec's shapes: uint8 noise for images, normal noise for vectors."""
    return {k: torch.randint(0, 256, (*lead, *key.shape), dtype=torch.uint8) if key.image
            else torch.randn(*lead, *key.shape) for k, key in spec.keys.items()}


def random_batch(cfg, spec: ObservationSpec, codec: ActionCodec, device) -> Batch:
    """A real-shaped batch: random observations and encoded random actions."""
    B, T = cfg.train.batch_size, cfg.train.seq_len
    action = codec.random(B * T, np.random.default_rng(0)).reshape(B, T, codec.size)
    first = torch.zeros(B, T)
    first[:, ::20] = 1
    return Batch(random_obs(spec, (B, T)), action, torch.ones(B, T), first, torch.ones(B, T)
                 ).to(device)


def measure(size: str, compiled: bool, precision: str, args) -> dict:
    cfg = load_config(SIZES[size] + OBS[args.obs] + [
        f"device={args.device}", f"compile={compiled}", f"precision={precision}",
        *args.overrides])
    env = cfg.env
    envs = make_vector_env(env.id, args.envs, env.kwargs, env.vector, **env.wrappers())
    try:
        return measure_on(envs, cfg, size, precision, args)
    finally:
        envs.close()


@contextmanager
def eager(agent: Agent):
    """The agent's compiled parts swapped for their eager functions, for the duration."""
    compiled = agent.world_model_loss, agent.dream
    agent.world_model_loss, agent.dream = compiled[0].eager, compiled[1].eager
    try:
        yield
    finally:
        agent.world_model_loss, agent.dream = compiled


def measure_on(envs, cfg, size: str, precision: str, args) -> dict:
    device = torch.device(args.device)
    spec = ObservationSpec(envs.single_observation_space, cfg.env.image_size,
                           cfg.env.image_fit)
    codec = ActionCodec(envs.single_action_space)
    agent = Agent(spec, codec, cfg, device)
    batch = random_batch(cfg, spec, codec, device)
    wm = agent.world_model
    tic = time.perf_counter()
    agent.train_step(batch)
    first_update_s = time.perf_counter() - tic  # with compile=true: compiling, or the cache

    # The two halves of train_step (forward and backward; the optimizers step in the full
    # update only), each with the functions it runs (compiled or not).
    def world_model_half():
        agent.zero_grad(set_to_none=True)
        return agent.world_model_gradients(batch)[1]

    states = world_model_half()

    def behavior_half():
        agent.behavior_gradients(states, batch)

    policy_state = agent.initial_state(args.envs)
    obs = {k: v.to(device) for k, v in random_obs(spec, (args.envs,)).items()}
    first = torch.zeros(args.envs, device=device)

    def policy_step():
        agent.policy(obs, first, policy_state)

    envs.reset(seed=0)
    actions = envs.action_space.sample()

    def env_step():
        envs.step(actions)

    repeats, dev = args.repeats, args.device
    result = {
        # What ran, not what was asked: a failed compile falls back to eager.
        "size": size, "obs": args.obs, "compile": agent.world_model_loss.compiled is not None
        and agent.dream.compiled is not None, "precision": precision,
        "params": sum(p.numel() for p in agent.parameters() if p.requires_grad),
        "first_update_s": first_update_s,
        "deter": cfg.model.deter, "units": cfg.model.units,
        "latents": f"{wm.quantizer.groups}x{wm.quantizer.classes} {cfg.quantizer.name}",
        "imagination_starts": cfg.ac.starts or batch.cont.numel(), "horizon": cfg.ac.horizon,
        "update_s": median_time(lambda: agent.train_step(batch), repeats, device=dev),
        "world_model_s": median_time(world_model_half, repeats, device=dev),
        "imagination_ac_s": median_time(behavior_half, repeats, device=dev),
    }
    # FLOPs are counted on the eager functions: the same arithmetic, visible op by op.
    with eager(agent):
        result["world_model_flops"] = flops(world_model_half)
        result["imagination_ac_flops"] = flops(behavior_half)
    result |= {
        "policy_step_s": median_time(policy_step, 50, device=dev),
        "env_steps_per_s": args.envs / median_time(env_step, 200),
    }
    if args.profile:
        tic = time.perf_counter()
        with torch.profiler.profile() as prof:
            agent.train_step(batch)
        wall_us = 1e6 * (time.perf_counter() - tic)
        events = prof.key_averages()
        # Time inside aten ops vs the whole step: the rest is Python and framework overhead.
        result["op_time_frac"] = sum(e.self_cpu_time_total for e in events
                                     if e.key.startswith("aten::")) / wall_us
        result["profile"] = events.table(sort_by="self_cpu_time_total", row_limit=12)
    return result


def training_rates(size: str, args) -> dict:
    """Real training on CartPole-v1 (envs, replay, updates at the default train ratio):
    env steps/s and updates/s over `--train-steps` env steps after the 1000-step prefill."""
    with tempfile.TemporaryDirectory() as tmp:
        prefill = 1000
        cfg = load_config(SIZES[size] + OBS[args.obs] + [
            f"device={args.device}", f"steps={prefill + args.train_steps}",
            f"train.prefill={prefill}", f"log.every={prefill}", "eval.every=0",
            "checkpoint.every=0", "log.openloop_every=0", "wandb.mode=disabled",
            "log.progress=false", f"threads={args.threads}", *args.overrides])
        cfg.run_dir = str(Path(tmp) / "run")
        Run(cfg).train()
        lines = (Path(cfg.run_dir) / "metrics.jsonl").read_text().splitlines()
        last = json.loads(lines[-1])  # the log event that covers the training phase
    return {"size": size, "env": cfg.env.id, "obs": args.obs, "train_ratio": cfg.train.train_ratio,
            "env_steps_per_s": last["perf/env_steps_per_s"],
            "updates_per_s": last["perf/updates_per_s"],
            "train_time_frac": last["perf/train_time_frac"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["cpu", "xs", "s"], choices=list(SIZES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--envs", type=int, default=1, help="envs per policy step")
    parser.add_argument("--obs", choices=list(OBS), default="vector",
                        help="CartPole-v1's state vector, or its 64 x 64 renders")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="0: every core")
    parser.add_argument("--compile", choices=["off", "on", "both"], default="both",
                        help="measure eager, compiled, or both")
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    parser.add_argument("--overrides", nargs="*", default=[],
                        help="run.py overrides applied to every size, e.g. preset=debug")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--train-steps", type=int, default=400,
                        help="env steps of real training per size for end-to-end rates "
                             "(0 skips them)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/speed.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    peak = matmul_flops_per_s(args.device)
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.compile]
    rows = [measure(size, compiled, precision, args) for size in args.sizes
            for precision in args.precision for compiled in modes]
    print(f"large matmul: {peak / 1e9:.0f} GFLOP/s ({torch.get_num_threads()} threads, "
          f"{args.device})\n")
    print("| size | params | precision | compile | first update s | world-model update s "
          "| imagination + actor-critic s | full update s | GFLOP (world model + imagination) "
          "| % of matmul FLOP/s | policy step ms | env steps/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        total_flops = r["world_model_flops"] + r["imagination_ac_flops"]
        r["efficiency"] = total_flops / r["update_s"] / peak
        print(f"| {r['size']} ({r['obs']}, {r['deter']}/{r['units']}, {r['latents']}, "
              f"{r['imagination_starts']} starts) | {r['params'] / 1e6:.1f}M | {r['precision']} "
              f"| {'on' if r['compile'] else 'off'} "
              f"| {r['first_update_s']:.1f} | {r['world_model_s']:.3f} "
              f"| {r['imagination_ac_s']:.3f} | {r['update_s']:.3f} "
              f"| {r['world_model_flops'] / 1e9:.1f} + {r['imagination_ac_flops'] / 1e9:.1f} "
              f"| {100 * r['efficiency']:.0f}% | {1e3 * r['policy_step_s']:.2f} "
              f"| {r['env_steps_per_s']:.0f} |")
    for r in rows:
        if "profile" in r:
            print(f"\nprofile, size {r['size']}, {r['precision']}, compile {r['compile']}: "
                  f"{100 * r['op_time_frac']:.0f}% of the step inside aten ops (the rest "
                  f"is Python and framework overhead)\n{r['profile']}")
    training = [training_rates(size, args) for size in args.sizes] if args.train_steps else []
    if training:
        print(f"\nreal training on {training[0]['env']} ({args.obs}), {args.train_steps} "
              f"env steps after prefill:\n"
              f"| size | train ratio | env steps/s | updates/s | share of time in updates |\n"
              f"|---|---|---|---|---|")
    for t in training:
        print(f"| {t['size']} | {t['train_ratio']:g} | {t['env_steps_per_s']:.1f} "
              f"| {t['updates_per_s']:.2f} | {100 * t['train_time_frac']:.0f}% |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": date.today().isoformat(), "machine": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(), "matmul_flops_per_s": peak, "rows": rows,
        "training": training}, indent=1))


if __name__ == "__main__":
    main()
