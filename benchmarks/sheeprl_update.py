"""Wall time of ONE sheeprl DreamerV3 gradient update (world model + actor + critic), to compare
with benchmarks/speed.py's "full update" at the XS size. Runs sheeprl's own `train` on a random
batch: no env, no replay buffer.

Run with sheeprl's own virtualenv (outside this repo), not the project's:

    ../sheeprl-venv/bin/python benchmarks/sheeprl_update.py [--repeats 5] [--threads N]

Install (sheeprl 0.8.4 requires torch>=2.6, so the CPU torch stays; nothing was patched):

    python3.11 -m venv ../sheeprl-venv
    ../sheeprl-venv/bin/pip install torch==2.13.0          # the CPU build (+cpu)
    echo "torch==2.13.0" > torch-pin.txt
    ../sheeprl-venv/bin/pip install sheeprl==0.8.4 -c torch-pin.txt

Config: sheeprl's Hydra configs composed with (OVERRIDES below)
    exp=dreamer_v3 algo=dreamer_v3_XS env=gym env.id=CartPole-v1
    algo.cnn_keys.encoder=[] algo.cnn_keys.decoder=[]
    algo.mlp_keys.encoder=[state] algo.mlp_keys.decoder=[state]
    algo.per_rank_batch_size=16 algo.per_rank_sequence_length=64 algo.total_steps=1
    fabric.accelerator=cpu fabric.devices=1 metric.log_level=0 model_manager.disabled=True
XS preset: dense_units 256, mlp_layers 1, GRU (recurrent_state_size) 256, 32x32 categorical
latents, 255-bin two-hot reward and critic, horizon 15, imagination from all T*B posteriors,
fp32, eager (algo.compile.enabled=False), sheeprl's Adam settings (fused=True).
The timed step is what sheeprl's training loop does per gradient step: the target-critic EMA
(tau=0.02, every step), then `train(...)`. Prints the median seconds per update and writes
benchmarks/results/sheeprl_update.json.
"""

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import gymnasium as gym
import hydra
import lightning
import numpy as np
import sheeprl
import torch
from hydra import compose, initialize_config_module
from lightning.fabric import Fabric
from omegaconf import OmegaConf
from sheeprl.algos.dreamer_v3.agent import build_agent
from sheeprl.algos.dreamer_v3.dreamer_v3 import train
from sheeprl.algos.dreamer_v3.utils import Moments
from sheeprl.utils.metric import MetricAggregator
from sheeprl.utils.timer import timer
from sheeprl.utils.utils import dotdict

B, T = 16, 64  # sequences x steps per batch
# The key sheeprl's gym wrapper gives a vector observation: algo.mlp_keys.encoder[0]
OBS_KEY = "state"
OVERRIDES = [
    "exp=dreamer_v3",
    "algo=dreamer_v3_XS",
    "env=gym",
    "env.id=CartPole-v1",
    "algo.cnn_keys.encoder=[]",
    "algo.cnn_keys.decoder=[]",  # exp=dreamer_v3 sets [rgb] for Atari
    f"algo.mlp_keys.encoder=[{OBS_KEY}]",
    f"algo.mlp_keys.decoder=[{OBS_KEY}]",
    f"algo.per_rank_batch_size={B}",
    f"algo.per_rank_sequence_length={T}",
    "algo.total_steps=1",
    "fabric.accelerator=cpu",
    "fabric.devices=1",
    "metric.log_level=0",
    "model_manager.disabled=True",
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed updates after one warm-up update"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    # Compose the config as sheeprl's CLI does (cli.run), then resolve it into sheeprl's dotdict
    with initialize_config_module(config_module="sheeprl.configs", version_base="1.3"):
        cfg = compose(config_name="config", overrides=OVERRIDES)
    cfg = dotdict(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True))
    torch.set_float32_matmul_precision(cfg.float32_matmul_precision)
    # What cli.run_algorithm sets with metric.log_level=0: no metrics, no timers
    MetricAggregator.disabled = True
    timer.disabled = True

    fabric = Fabric(accelerator="cpu", devices=1, precision=cfg.fabric.precision)
    fabric.seed_everything(cfg.seed)

    # CartPole-v1: 4-dim vector observation under OBS_KEY, 2 discrete actions
    env = gym.make("CartPole-v1")
    obs_space = gym.spaces.Dict({OBS_KEY: env.observation_space})
    actions_dim = (int(env.action_space.n),)
    is_continuous = False

    # Models and optimizers, as in sheeprl.algos.dreamer_v3.dreamer_v3.main
    world_model, actor, critic, target_critic, _player = build_agent(
        fabric, actions_dim, is_continuous, cfg, obs_space
    )
    world_optimizer = hydra.utils.instantiate(
        cfg.algo.world_model.optimizer, params=world_model.parameters(), _convert_="all"
    )
    actor_optimizer = hydra.utils.instantiate(
        cfg.algo.actor.optimizer, params=actor.parameters(), _convert_="all"
    )
    critic_optimizer = hydra.utils.instantiate(
        cfg.algo.critic.optimizer, params=critic.parameters(), _convert_="all"
    )
    world_optimizer, actor_optimizer, critic_optimizer = fabric.setup_optimizers(
        world_optimizer, actor_optimizer, critic_optimizer
    )
    m = cfg.algo.actor.moments
    moments = Moments(m.decay, m.max, m.percentile.low, m.percentile.high)

    # A random batch shaped like sample_batches' output: [T, B, ...], every value float32
    g = torch.Generator().manual_seed(0)
    actions = torch.nn.functional.one_hot(
        torch.randint(0, actions_dim[0], (T, B), generator=g), actions_dim[0]
    )
    batch = {
        OBS_KEY: torch.randn(T, B, 4, generator=g),
        "actions": actions.float(),
        "rewards": torch.ones(T, B, 1),  # CartPole pays 1 per step
        "terminated": (torch.rand(T, B, 1, generator=g) < 0.02).float(),
        "truncated": torch.zeros(T, B, 1),
        "is_first": (torch.rand(T, B, 1, generator=g) < 0.02).float(),
    }

    step = 0

    def update():
        # One gradient step of sheeprl's training loop: the target-critic EMA (a copy at the
        # first step), then train(...)
        nonlocal step
        tau = 1 if step == 0 else cfg.algo.critic.tau
        if step % cfg.algo.critic.per_rank_target_network_update_freq == 0:
            for cp, tcp in zip(critic.module.parameters(), target_critic.parameters(), strict=True):
                tcp.data.copy_(tau * cp.data + (1 - tau) * tcp.data)
        data = {k: v.clone() for k, v in batch.items()}  # train edits is_first in place
        t0 = time.perf_counter()
        train(
            fabric,
            world_model,
            actor,
            critic,
            target_critic,
            world_optimizer,
            actor_optimizer,
            critic_optimizer,
            data,
            None,
            cfg,
            is_continuous,
            actions_dim,
            moments,
        )
        step += 1
        return time.perf_counter() - t0

    warmup = update()
    times = [update() for _ in range(args.repeats)]
    median = statistics.median(times)
    n_params = {
        name: sum(p.numel() for p in mod.parameters())
        for name, mod in (("world_model", world_model), ("actor", actor), ("critic", critic))
    }
    versions = (sheeprl.__version__, lightning.__version__, torch.__version__)
    print("sheeprl {} / lightning {} / torch {}".format(*versions))
    print(f"torch threads: {torch.get_num_threads()}  params: {n_params}")
    print(f"warm-up update: {warmup:.3f} s")
    all_times = ", ".join(f"{t:.3f}" for t in times)
    print(f"median of {args.repeats} updates: {median:.3f} s  (all: {all_times})")

    out = Path(__file__).resolve().parent / "results" / "sheeprl_update.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "what": "one sheeprl DreamerV3 update: target EMA + train (world model, actor, critic)",
        "median_s": median,
        "times_s": times,
        "warmup_s": warmup,
        "repeats": args.repeats,
        "threads": torch.get_num_threads(),
        "batch": [B, T],
        "horizon": cfg.algo.horizon,
        "overrides": OVERRIDES,
        "params": n_params,
        "versions": {
            "sheeprl": sheeprl.__version__,
            "lightning": lightning.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "machine": platform.processor() or platform.machine(),
    }
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
