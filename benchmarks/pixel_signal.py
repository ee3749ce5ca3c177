"""How much of CartPole's state a 64 x 64 render shows, in the units of the pixel
reconstruction loss, beside what a run's world model reconstructs.

    python benchmarks/pixel_signal.py [--size 64] [--crop TOP BOTTOM LEFT RIGHT]
                                      [--run RUN_DIR ...]

CartPole-v1 renders 600 x 400; the agent shrinks that (or, with --crop, the window
`env.crop` keeps of it) to S x S (`env.image_size`, by area averaging, as in training).
For a pole tilted by a small angle, or a cart moved a little, from the upright centred
state, this prints the squared pixel difference summed over the image (pixel / 255, the
reconstruction loss's scale) and how many pixels change by more than 5%. A world model whose
reconstruction loss per frame is still above a tilt's figure is unlikely to resolve that
tilt; with --run, the reconstruction loss of those runs (every 5,000 env steps) is printed
beside.
"""

import argparse
import json

import numpy as np
from common import read_metrics

from envs import ObservationSpec, make_env

TILTS = (0.01, 0.02, 0.05, 0.1, 0.2)  # rad; the episode ends past 0.21
SHIFTS = (0.02, 0.05, 0.1, 0.5)  # m; the episode ends past 2.4


def renderer(size: int, crop: list[float] | None = None):
    """state -> the image the agent stores for it (float [C, S, S], pixel / 255)."""
    env = make_env("CartPole-v1", pixels=True, crop=crop)
    env.reset(seed=0)
    spec = ObservationSpec(env.observation_space, image_size=size)

    def render(x: float, theta: float) -> np.ndarray:
        env.unwrapped.state = np.array([x, 0.0, theta, 0.0])
        frame = env.observation(env.unwrapped.render()) if crop else env.unwrapped.render()
        return spec.to_tensors(frame[None])["obs"][0].float().numpy() / 255.0
    return render


def difference(a: np.ndarray, b: np.ndarray) -> dict:
    d = a - b
    return {"sum_sq": float((d ** 2).sum()), "pixels": int((np.abs(d).max(0) > 0.05).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--crop", type=float, nargs=4, metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
                        help="the window env.crop keeps (fractions of the frame)")
    parser.add_argument("--run", nargs="*", default=[], help="run folders to read recon from")
    args = parser.parse_args()

    render = renderer(args.size, args.crop)
    upright = render(0.0, 0.0)
    rows = [(f"pole tilted {t:g} rad", difference(render(0.0, t), upright)) for t in TILTS]
    rows += [(f"cart moved {s:g} m", difference(render(s, 0.0), upright)) for s in SHIFTS]
    drawn = int((np.abs(1.0 - upright).max(0) > 0.1).sum())
    window = f", window {args.crop} of the frame" if args.crop else ""
    print(f"CartPole-v1 at {args.size} x {args.size}{window}: {drawn} of {args.size ** 2} pixels "
          f"are not background\n| change from upright, centred | squared pixel difference "
          f"(recon loss units) | pixels changed > 5% |\n|---|---|---|")
    for name, d in rows:
        print(f"| {name} | {d['sum_sq']:.2f} | {d['pixels']} |")

    for run in args.run:
        recon = [(e["step"], e["loss/recon"]) for e in read_metrics(run)
                 if "loss/recon" in e and e["step"] % 5000 == 0]
        print(f"\n{run}: reconstruction loss per image at env steps\n"
              + json.dumps({step: round(loss, 2) for step, loss in recon}))


if __name__ == "__main__":
    main()
