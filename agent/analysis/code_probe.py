"""How much of the observations reaches the code? Measured on replayed steps: the entropy of
the posterior's most likely class in each group, summed over groups (in bits; 0 when every
step gets the same code, at most the code's capacity G * log2 K), and how much the
encoder's embedding varies between steps against its size (0 for an embedding that ignores
the observation).

A code that carries a few bits while the images change (MinAtar Asterix: about 5 of 56
within 100 world-model updates, docs/results/minatar.md) leaves the decoder predicting
the average frame and the reward head the average reward, whatever the policy does.
"""

from dataclasses import dataclass

import numpy as np
import torch

from agent.agent import Agent, evaluating
from agent.loop.replay import Replay


@dataclass
class CodeInformation:
    bits: float | None  # entropy of the code over the steps; None for a continuous code
    capacity: float | None  # G * log2 K
    spread: float       # the embedding's std over steps (mean over dims) / its mean |value|

    def line(self) -> str:
        bits = ("continuous code" if self.bits is None
                else f"{self.bits:.1f} of {self.capacity:.1f} bits")
        return f"code over replayed steps: {bits}; embedding spread {self.spread:.3f}"


def entropy_bits(indices: torch.Tensor) -> float:
    """[N, G] class indices -> the entropy of each group's histogram, summed, in bits."""
    total = 0.0
    for group in indices.T:
        _, counts = torch.unique(group, return_counts=True)
        p = counts.double() / counts.sum()
        total -= float((p * p.log2()).sum())
    return total


@torch.no_grad()
def code_information(agent: Agent, replay: Replay, windows: int = 16, length: int = 64,
                     seed: int = 1) -> CodeInformation:
    """Scored on `windows` x `length` replayed steps, drawn with their own generator."""
    batch = replay.sample(windows, length, np.random.default_rng(seed))
    wm = agent.world_model
    with evaluating(wm):
        embedding = wm.embedding(batch.obs).flatten(0, -2).float()
        quantized = wm.quantizer(embedding)
    spread = float(embedding.std(0).mean() / embedding.abs().mean().clamp(min=1e-12))
    if not wm.quantizer.has_codebook:
        return CodeInformation(None, None, spread)
    mode = quantized.probs.argmax(-1)  # the sampled class would add sampling noise
    return CodeInformation(entropy_bits(mode), wm.quantizer.bits, spread)
