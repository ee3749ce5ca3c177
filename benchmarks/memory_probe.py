"""The memory probe from the command line: train the world model alone on random
cue-recall episodes and print the reward head's sign accuracy at held-out answer steps
every --every updates (agent/analysis/memory_probe.py; results in docs/results/memory.md).

    python benchmarks/memory_probe.py --delay 2 --updates 2000 --lr 1e-3 --seq 16 [--size 32]
                                      [--reward-outscale S] [--head twohot|mse] [--align]
                                      [--cell gru|normalised] [--free-bits F]
                                      [--quantizer Q] [--rep-temperature T]
                                      [--recon/--dyn/--rep/--cont/--reward SCALE]
                                      [--prior/--decoder/--cont-grad-into-h SHARE]

--reward-outscale 1 gives the reward head's output layer PyTorch's default (random)
initialisation, 0 zeros (DreamerV3's choice): model.reward_outscale in a run.
--rep-temperature T > 0 gives fsq's representation loss a gradient into the encoder
(quantizer.rep_temperature in a run). --head mse,
--cell normalised and --align patch the model and replay for the run
(benchmarks/memory_variants.py); so does --prior-grad-into-h 0.1 (and --decoder-, --cont-):
that head then passes only that share of its gradient into h (0: none).
"""

import argparse
import time

import numpy as np
import torch
from memory_variants import (
    sample_from_episode_starts,
    scale_gradient_into_h,
    use_normalised_gru,
    use_symlog_mse_reward_head,
)

import agent.quantizers  # noqa: F401  (registers every quantizer)
from agent.agent import Agent
from agent.analysis.memory_probe import random_replay, score
from agent.analysis.random_data import train_in_chunks
from agent.config import Config


def config(args: argparse.Namespace) -> Config:
    cfg = Config()
    cfg.quantizer = agent.quantizers.registry.quantizer_class(args.quantizer).Options()
    if args.rep_temperature:
        if not hasattr(cfg.quantizer, "rep_temperature"):
            raise SystemExit(f"--rep-temperature is an fsq option; --quantizer "
                             f"{args.quantizer} has none")
        cfg.quantizer.rep_temperature = args.rep_temperature
    cfg.model.deter = cfg.model.units = args.size
    cfg.model.layers = args.layers
    cfg.model.reward_outscale = args.reward_outscale
    cfg.train.model_opt.lr = args.lr
    cfg.train.batch_size, cfg.train.seq_len = 16, args.seq
    cfg.train.free_bits = args.free_bits
    for term in ("recon", "dyn", "rep", "cont", "reward"):
        setattr(cfg.loss_scales, term, getattr(args, term))
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, kind, default in (("delay", int, 2), ("updates", int, 2000), ("every", int, 500),
                                ("lr", float, 1e-3), ("seq", int, 16), ("size", int, 32),
                                ("layers", int, 1), ("recon", float, 1.0), ("dyn", float, 0.5),
                                ("rep", float, 0.1), ("cont", float, 1.0), ("reward", float, 1.0),
                                ("seed", int, 0), ("quantizer", str, "fsq"),
                                ("reward-outscale", float, 0.0),
                                ("rep-temperature", float, 0.0)):
        parser.add_argument(f"--{name}", type=kind, default=default)
    parser.add_argument("--head", choices=["twohot", "mse"], default="twohot")
    parser.add_argument("--cell", choices=["gru", "normalised"], default="gru")
    parser.add_argument("--free-bits", type=float, default=1.0)
    parser.add_argument("--align", action="store_true",
                        help="start every replayed window at an episode's first step")
    for head in ("prior", "decoder", "cont"):
        parser.add_argument(f"--{head}-grad-into-h", type=float, default=1.0,
                            help=f"the share of the {head}'s gradient that reaches h")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    agent = Agent(3, 2, config(args))
    train = random_replay(1000, args.delay, seed=args.seed)
    held_out = random_replay(250, args.delay, seed=args.seed + 7)
    if args.head == "mse":
        use_symlog_mse_reward_head(agent)
    if args.cell == "normalised":
        use_normalised_gru(agent)
    if args.align:
        sample_from_episode_starts(train)
    for head in ("prior", "decoder", "cont"):
        if getattr(args, f"{head}_grad_into_h") != 1.0:
            scale_gradient_into_h(agent, head, getattr(args, f"{head}_grad_into_h"))
    tic = time.perf_counter()
    print("| updates | reward loss (last 20) | accuracy | answer MAE | dyn loss | mean ‖h‖ | s |\n"
          "|---|---|---|---|---|---|---|")
    for done, losses in train_in_chunks(agent, train, args.updates, args.every):
        s = score(agent, held_out)
        with torch.no_grad():
            terms, states = agent.world_model.loss(train.sample(16, args.seq))
        print(f"| {done} | {np.mean(losses[-20:]):.3f} | {s['accuracy']:.3f} "
              f"| {s['answer_mae']:.3f} | {terms['dyn'].item():.2f} "
              f"| {states.h.norm(dim=-1).mean().item():.2f} | {time.perf_counter() - tic:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
