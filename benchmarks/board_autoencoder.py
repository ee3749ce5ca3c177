"""How fast do the image encoder and decoder alone learn each MinAtar object? An autoencoder
of the world model's own convnets (agent/model/convnets.py) with a `--width` bottleneck
between them, trained on a random policy's boards, prints every --every updates the share
of each object's lit cells it draws lit (agent/analysis/board_check.py). No sequence model,
no code, no KL: what it cannot draw, no world model built on these convnets will.

    python benchmarks/board_autoencoder.py [--game space_invaders] [--likelihood mse]
        [--mean-frame] [--min-res 1] [--fit resize] [--lr 3e-4] [--width 128] [--depth 16]
        [--updates 2000] [--every 500] [--batch 256] [--seed 0]

Boards are stored as env=minatar stores them (16 x 16, sticky actions; `--fit pad` as
env.image_fit=pad stores them: each cell one pixel, where resizing draws them 1 or 2 pixels
wide); 4 envs × 1,000 random steps. One torch thread.
"""

import argparse
import time

import torch
from common import load_config
from torch import nn

from agent.analysis.board_check import board_cells, channel_names, pct, score
from agent.analysis.random_data import random_policy_replay
from agent.model.convnets import LIKELIHOODS, ConvDecoder, ConvEncoder
from envs.observations import FITS

SCORED = 512  # boards scored at each report: the first of the replay


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--game", default="space_invaders")
    parser.add_argument("--likelihood", choices=LIKELIHOODS, default="mse")
    parser.add_argument("--fit", choices=FITS, default="resize",
                        help="env.image_fit: how the 10 x 10 boards become 16 x 16")
    parser.add_argument("--mean-frame", action="store_true",
                        help="the decoder starts at the boards' mean frame")
    for name, kind, default in (("min-res", int, 1), ("lr", float, 3e-4), ("width", int, 128),
                                ("depth", int, 16), ("updates", int, 2000),
                                ("every", int, 500), ("batch", int, 256), ("seed", int, 0)):
        parser.add_argument(f"--{name}", type=kind, default=default)
    return parser.parse_args()


def main() -> None:
    args = parse()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    env = load_config(["env=minatar", f"env.game={args.game}",  # stored as runs store it
                       f"env.image_fit={args.fit}"]).env
    replay = random_policy_replay(env.id, 1000, dict(env.kwargs or {}), seed=args.seed,
                                  image_size=env.image_size, image_fit=env.image_fit,
                                  **env.wrappers())
    (boards,) = replay.obs.values()
    boards = boards.reshape(-1, *boards.shape[-3:])
    shape = tuple(boards.shape[1:])
    encoder = ConvEncoder(shape, args.depth, args.min_res)
    middle = nn.Sequential(nn.Linear(encoder.out_dim, args.width), nn.LayerNorm(args.width),
                           nn.SiLU())
    decoder = ConvDecoder(args.width, shape, args.depth, mean_frame=args.mean_frame,
                          min_res=args.min_res, likelihood=args.likelihood)
    decoder.start_from(boards[:1024])
    model = nn.Sequential(encoder, middle, decoder)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    real = board_cells(boards[:SCORED], env.image_fit)
    names = channel_names(env.id, shape[0])
    print(f"{args.game}: {len(boards)} random boards; {vars(args)}")
    tic = time.perf_counter()
    for update in range(1, args.updates + 1):
        batch = boards[torch.randint(len(boards), (args.batch,))]
        loss = decoder.loss(model(batch), batch).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if update % args.every == 0:
            with torch.no_grad():
                drawn = board_cells(decoder.pixels(model(boards[:SCORED])), env.image_fit)
            found = score(drawn, real).found
            print(f"{update:>6} updates: loss {loss.item():7.2f}; draws " + ", ".join(
                f"{name} {pct(f).strip()}" for name, f in zip(names, found, strict=True)) +
                f"; {time.perf_counter() - tic:.0f} s", flush=True)


if __name__ == "__main__":
    main()
