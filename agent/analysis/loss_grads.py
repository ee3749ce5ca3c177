"""Which loss term moves which part of the world model: each term's gradient on its own.

    python -m agent.analysis.loss_grads RUN_DIR_OR_CHECKPOINT [--windows N] [--seq-len N]
        [--seed 0]

An update backpropagates the scaled sum of the world model's terms, so the logs show one
gradient norm for the whole model. Where the encoder's code shifts at once (the pixel runs'
dynamics-loss jumps, docs/results/env-targets.md), what pushed it is the question: the
reconstruction, the reward and continue heads through the straight-through code, the
dynamics loss through h into the codes of the steps before, or the quantizer's own terms.
On replayed windows drawn as an update draws them (`--windows` defaults to the run's
batch size, `--seq-len` to its sequence length, with its replay.recency), the world model
computes its loss terms once, in training mode and the run's precision (not compiled), and
each term times its scale is backpropagated alone. Prints, per term, its value, its
gradient's norm on each part of the model, and, on the encoder, its cosine with the sum's
gradient and its share of it (the projection <g_term, g_sum> / |g_sum|^2: the shares of
all terms add up to 1). The terms' gradients add up to the one an update computes (up to
rounding under bf16). These are gradients, not steps: Adam rescales each weight's by its
own running size. Nothing is trained: the weights and what the quantizer learns in its
forward pass are left as they were (a checkpoint saved before its first update is read as
saved, without the data-dependent start of WorldModel.start_from).
"""


import numpy as np
import torch
from torch import Tensor

from agent.agent import Agent
from agent.analysis.command import loaded, target_parser
from agent.analysis.reward_check import run_from_checkpoint, seeded_posterior
from agent.data import Batch

PARTS = {
    "encoder": ("encoder", "image_encoders", "merge"),
    "quantizer": ("quantizer",),
    "sequence": ("step_input", "action_input", "gru"),
    "prior": ("prior",),
    "decoder": ("decoder", "image_decoders"),
    "reward head": ("reward",),
    "continue head": ("cont",),
}
"""The world model's parts, by the first component of their parameters' names."""

TOTAL = "sum"


def part_of(name: str) -> str:
    """The part a world-model parameter belongs to."""
    first = name.split(".")[0]
    for part, modules in PARTS.items():
        if first in modules:
            return part
    raise KeyError(f"world-model parameter {name!r} belongs to no part of PARTS")


def term_gradients(agent: Agent, batch: Batch, seed: int = 0
                   ) -> tuple[dict[str, float], dict[str, dict[str, Tensor]]]:
    """Each world-model loss term's value, and the gradient of the term times its scale on
    every world-model parameter (zeros where it does not reach), plus TOTAL: the gradient of
    the scaled sum, as an update computes it. Training mode, posterior samples seeded."""
    wm = agent.world_model
    params = dict(wm.named_parameters())
    # What a forward pass moves outside the optimizer (VQ's EMA codebook, usage counts).
    buffers = {name: b.clone() for name, b in wm.named_buffers()}
    was_training = wm.training
    wm.train()  # as an update computes it: a categorical code sampled, not its mode
    try:
        with seeded_posterior(seed), agent.autocast():
            losses, _ = wm.loss(batch)
        scaled = {name: agent.scales["quant" if name.startswith("quant_") else name] * value
                  for name, value in losses.items()}
        scaled[TOTAL] = sum(scaled.values())
        grads = {}
        for name, value in scaled.items():
            found = (torch.autograd.grad(value, list(params.values()), retain_graph=True,
                                         allow_unused=True)
                     if value.requires_grad else [None] * len(params))  # e.g. fsq's rep
            grads[name] = {p: torch.zeros_like(params[p]) if g is None else g
                           for p, g in zip(params, found, strict=True)}
    finally:
        for name, b in wm.named_buffers():
            b.copy_(buffers[name])
        wm.train(was_training)
    values = {name: float(value.detach()) for name, value in losses.items()}
    return values, grads


def part_norms(grads: dict[str, Tensor]) -> dict[str, float]:
    """The gradient's norm on each part."""
    squares = dict.fromkeys(PARTS, 0.0)
    for name, grad in grads.items():
        squares[part_of(name)] += float(grad.float().pow(2).sum())
    return {part: s ** 0.5 for part, s in squares.items()}


def encoder_alignment(grads: dict[str, Tensor], total: dict[str, Tensor]
                      ) -> tuple[float | None, float | None]:
    """A term's encoder gradient against the sum's: their cosine, and the term's share
    <g, g_sum> / |g_sum|^2; None where a norm is zero."""
    names = [n for n in grads if part_of(n) == "encoder"]
    a = torch.cat([grads[n].float().flatten() for n in names])
    b = torch.cat([total[n].float().flatten() for n in names])
    if b.norm() == 0:
        return None, None
    share = float(a @ b / b.norm() ** 2)
    return (None if a.norm() == 0 else float(a @ b / (a.norm() * b.norm()))), share


def table(values: dict[str, float], grads: dict[str, dict[str, Tensor]]) -> list[str]:
    parts = list(PARTS)
    lines = ["| term | loss | " + " | ".join(parts)
             + " | encoder: cos with sum | encoder: share of sum |",
             "|---" * (len(parts) + 4) + "|"]
    for name, grad in grads.items():
        norms = part_norms(grad)
        alignment = encoder_alignment(grad, grads[TOTAL])
        loss = "" if name == TOTAL else f"{values[name]:.4g}"
        cells = [f"{norms[p]:.3g}" for p in parts] + [
            "-" if x is None else f"{x:+.2f}" for x in alignment]
        lines.append(f"| {name} | {loss} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = target_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, default=None,
                        help="replayed windows (default: the run's train.batch_size)")
    parser.add_argument("--seq-len", type=int, default=None,
                        help="steps per window (default: the run's train.seq_len)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error(f"--seed {args.seed}: use a seed of 0 or more")
    agent, replay, env_steps = run_from_checkpoint(loaded(args.target))
    train = agent.cfg.train
    windows = train.batch_size if args.windows is None else args.windows
    seq_len = train.seq_len if args.seq_len is None else args.seq_len
    if windows < 1 or seq_len < 1:
        parser.error(f"--windows {windows} --seq-len {seq_len} draw nothing; use 1 or more")
    if not replay.can_sample(seq_len):
        parser.error(f"the replay holds fewer steps per env than windows of {seq_len}; use "
                     f"shorter windows (--seq-len)")
    batch = replay.sample(windows, seq_len, np.random.default_rng(args.seed),
                          recency=agent.cfg.replay.recency)
    values, grads = term_gradients(agent, batch, args.seed)
    print(f"gradient of each world-model loss term times its scale, by part, on {windows} "
          f"replayed windows of {seq_len} steps; checkpoint at {env_steps:,} env steps "
          f"({agent.cfg.quantizer['name']})")
    print("\n".join(table(values, grads)))


if __name__ == "__main__":
    main()
