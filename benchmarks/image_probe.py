"""The image probe from the command line: train the world model alone on a random policy's
SeenPosition-v0 steps and print, every --every updates, how its reward prediction follows
the image (agent/analysis/image_probe.py; results in docs/results/memory.md).

    python benchmarks/image_probe.py --updates 1200 --every 300 [--size 32] [--lr 1e-3]
                                     [--reward-outscale 1] [--recon 1] [--quantizer fsq]
"""

import argparse
import time

import numpy as np
import torch

import agent.quantizers  # noqa: F401  (registers every quantizer)
from agent.agent import Agent
from agent.analysis.image_probe import ENV_ID, held_out, image_dependence, observation_spec
from agent.analysis.random_data import random_policy_replay, train_in_chunks
from agent.config import Config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, kind, default in (("updates", int, 1200), ("every", int, 300), ("size", int, 32),
                                ("layers", int, 1), ("cnn-depth", int, 8), ("lr", float, 1e-3),
                                ("reward-outscale", float, 1.0), ("recon", float, 1.0),
                                ("quantizer", str, "fsq"), ("seed", int, 0)):
        parser.add_argument(f"--{name}", type=kind, default=default)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    cfg = Config()
    cfg.quantizer = agent.quantizers.registry.quantizer_class(args.quantizer).Options()
    cfg.model.deter = cfg.model.units = args.size
    cfg.model.layers, cfg.model.cnn_depth = args.layers, args.cnn_depth
    cfg.model.reward_outscale = args.reward_outscale
    cfg.loss_scales.recon = args.recon
    cfg.train.model_opt.lr = args.lr
    cfg.train.batch_size, cfg.train.seq_len = 16, 16
    model = Agent(observation_spec(), 2, cfg)
    train = random_policy_replay(ENV_ID, 400, seed=args.seed)
    test = held_out(seed=args.seed + 1)
    tic = time.perf_counter()
    print("| updates | reward loss (last 20) | corr(pred, truth) | swapped: corr with the "
          "image's reward | swapped: corr with the truth | s |\n|---|---|---|---|---|---|")
    for done, losses in train_in_chunks(model, train, args.updates, args.every):
        c = image_dependence(model, test)
        print(f"| {done} | {np.mean(losses[-20:]):.3f} | {c['own']:.2f} "
              f"| {c['swapped_other']:.2f} | {c['swapped_own']:.2f} "
              f"| {time.perf_counter() - tic:.0f} |", flush=True)


if __name__ == "__main__":
    main()
