"""How well does the world model draw a MinAtar board, object by object? MinAtar draws one
kind of object per channel (Breakout: paddle, ball, trail, bricks); for each, over replayed
windows, the share of the lit cells that the model draws lit ("found") and of the cells it
draws lit that are lit ("right"), decoded from the posterior (what the model sees) and from
the prior alone 1, 5 and 15 steps ahead with the actions taken (what imagination rolls).

    python -m agent.analysis.board_check RUN_DIR_OR_CHECKPOINT [--windows 64]
        [--seq-len N] [--seed 0]

The squared error of the whole image (openloop/ errors) is mostly the empty background; a
ball of one cell lost after five imagined steps barely moves it, and shows here.
"""

from dataclasses import dataclass, field

import torch
from torch import Tensor

from agent.agent import Agent, evaluating
from agent.analysis.continue_check import imagine_ahead
from agent.analysis.reward_check import WARMUP, check_command, sample_windows, seeded_posterior
from agent.loop.openloop_errors import HORIZONS
from agent.loop.replay import Replay
from envs.observations import cell_pixels

BOARD = 10  # MinAtar's board is 10 x 10, whatever size the image is stored at


def board_cells(image: Tensor, fit: str = "resize") -> Tensor:
    """[..., C, H, W] uint8 images of a board stored as env.image_fit `fit` stores it
    (enlarged by nearest neighbour, or padded) -> [..., C, 10, 10] lit cells: each board
    cell read at a pixel that shows it (envs.observations.cell_pixels), lit where drawn at
    half or more."""
    pixel = cell_pixels(BOARD, image.shape[-1], fit)
    return image[..., pixel, :][..., pixel] >= 128


@dataclass
class Drawn:
    lit: list[int]                # lit cells per channel on the real boards
    found: list[float | None]     # share of them drawn lit
    right: list[float | None]     # share of the cells drawn lit that are lit


def score(drawn: Tensor, real: Tensor) -> Drawn:
    """[N, C, 10, 10] drawn and real lit cells -> per channel counts and shares."""
    drawn, real = drawn.transpose(0, 1).flatten(1), real.transpose(0, 1).flatten(1)
    hits = (drawn & real).sum(1)
    lit, drawn_lit = real.sum(1), drawn.sum(1)
    return Drawn(lit.tolist(),
                 [float(h / n) if n else None for h, n in zip(hits, lit, strict=True)],
                 [float(h / n) if n else None for h, n in zip(hits, drawn_lit, strict=True)])


def pct(share: float | None) -> str:
    return "  n/a" if share is None else f"{100 * share:4.0f}%"


@dataclass
class BoardCheck:
    channels: list[str]
    steps: int
    observed: Drawn
    imagined: dict[int, Drawn] = field(default_factory=dict)

    def lines(self) -> list[str]:
        rows = [("posterior", self.observed)] + [
            (f"{h} step{'s' * (h > 1)} ahead", d) for h, d in self.imagined.items()]
        width = max(len(name) for name in self.channels)
        head = f"{'':{width}}  {'lit cells':>10}" + "".join(
            f"  {name:>17}" for name, _ in rows)
        out = [f"the board over {self.steps} replayed steps: per channel, the share of lit "
               f"cells drawn lit (found) / of the cells drawn lit that are lit (right)", head]
        for c, name in enumerate(self.channels):
            out.append(f"{name:{width}}  {self.observed.lit[c]:>10}" + "".join(
                f"  {pct(d.found[c])} / {pct(d.right[c])}      " for _, d in rows).rstrip())
        return out


def channel_names(env_id: str, count: int) -> list[str]:
    """The game's own names of its board's channels (MinAtar's `channels`), or numbers."""
    try:
        from envs.make import make_env
        env = make_env(env_id, {})
        channels = env.unwrapped.game.env.channels
        env.close()
        names = sorted(channels, key=channels.get)
    except Exception:  # not a MinAtar env, or MinAtar not installed: numbers will do
        names = []
    return names if len(names) == count else [f"channel {c}" for c in range(count)]


@torch.no_grad()
def check_board(agent: Agent, replay: Replay, windows: int = 64, seq_len: int = 64,
                seed: int = 0) -> BoardCheck:
    """Lit cells drawn against the real ones on `windows` replayed windows (sample_windows),
    observed and imagined HORIZONS steps ahead (those a window leaves room for after
    WARMUP), within the episode of each imagined rollout's start."""
    batch = sample_windows(replay, windows, seq_len, seed)
    (key, image), *more = batch.obs.items()
    if more or image.dim() != 5 or image.shape[-1] < BOARD:
        raise SystemExit("error: this run's observations are not a MinAtar board (one image, "
                         "stored from 10 x 10); run the check on an env=minatar run")
    fit = agent.cfg.env.image_fit
    real = board_cells(image, fit)
    wm = agent.world_model
    kept = slice(WARMUP, None)  # h starts from zeros before WARMUP
    with evaluating(wm), seeded_posterior(seed):
        states = wm.observe(batch.obs, batch.action, batch.is_first)
        seen = board_cells(wm.decode(wm.feat(states.h, states.quantized.code))[key], fit)
        names = channel_names(agent.cfg.env.id, image.shape[2])
        check = BoardCheck(names, batch.reward[:, kept].numel(),
                           score(seen[:, kept].flatten(0, 1), real[:, kept].flatten(0, 1)))
        for horizon in (h for h in HORIZONS if WARMUP + h < seq_len):
            h, code, reached, new_episode = imagine_ahead(wm, states, batch, horizon)
            drawn = board_cells(wm.decode(wm.feat(h, code))[key], fit)
            inside = ~new_episode
            check.imagined[horizon] = score(drawn[inside],
                                            real[:, reached].flatten(0, 1)[inside])
    return check


if __name__ == "__main__":
    check_command(__doc__, check_board)
