"""Every random stream of a run, named in one place and derived from the run's seed.

Training's own streams (env resets, replay sampling, prefill actions, torch) start from the
seed itself. Evaluation, videos and diagnostics draw from streams of their own, so turning
them on or off never changes what training sees, and two streams never share a seed.
"""

import numpy as np
import torch

# Fixed ids of the side streams: changing one changes those streams' seeds.
_EVALUATION, _VIDEO, _DIAGNOSTICS, _OPEN_LOOP_ERRORS, _TRAINING_ENVS = 1, 2, 3, 4, 5


class Seeds:
    def __init__(self, seed: int):
        self.seed = seed

    @property
    def training(self) -> int:
        """torch and Python, the training envs' first reset, replay sampling, prefill."""
        return self.seed

    def training_envs(self, n: int) -> list[int]:
        """The first reset's seed of each of the n training envs: the first is the seed
        itself, the others derive from it. (Gymnasium's default, seed + i, would give env
        i of seed s the same resets as env i - 1 of seed s + 1.)"""
        return [self.seed] + [self._side_stream(_TRAINING_ENVS, i) for i in range(1, n)]

    def evaluation(self, run: int) -> int:
        """The reset seed of the `run`-th evaluation's envs."""
        return self._side_stream(_EVALUATION, run)

    def video(self, run: int) -> int:
        """The reset seed of the episode filmed after the `run`-th evaluation."""
        return self._side_stream(_VIDEO, run)

    def diagnostics(self) -> np.random.Generator:
        """Replay windows for the open-loop diagnostics."""
        return np.random.default_rng(self._side_stream(_DIAGNOSTICS, 0))

    def open_loop_errors(self, step: int) -> np.random.Generator:
        """Replay windows for the open-loop errors logged at env step `step`: a fresh
        generator per event, so a resumed run draws the same windows without saving it."""
        return np.random.default_rng(self._side_stream(_OPEN_LOOP_ERRORS, step))

    def _side_stream(self, stream: int, index: int) -> int:
        return int(np.random.SeedSequence([self.seed, stream, index]).generate_state(1)[0])


def own_randomness(device: torch.device):
    """For side streams: torch's RNG (CPU, and the device's) is put back as it was on exit,
    so what they sample (the prior in a diagnostic, a filmed episode's actions) leaves
    training's random draws unchanged."""
    return torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else [])
