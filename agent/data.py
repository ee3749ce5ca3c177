"""The data every part exchanges: observations and replayed batches (a leaf module)."""

from typing import NamedTuple

import torch
from torch import Tensor

Obs = dict[str, Tensor]  # observation key -> [..., *shape] (envs/observations.py)


def to_device(x: Tensor, device: torch.device | str) -> Tensor:
    """To the training device; to a GPU through pinned memory, so the copy is async."""
    pin = torch.device(device).type == "cuda"
    return (x.pin_memory() if pin else x).to(device, non_blocking=True)


class Batch(NamedTuple):
    obs: Obs          # {key: [B, T, *shape]}
    action: Tensor    # [B, T, act_dim]  encoded action taken after seeing obs
    reward: Tensor    # [B, T]           reward received on arriving at obs
    is_first: Tensor  # [B, T]           1 on the first step of an episode
    cont: Tensor      # [B, T]           0 where the episode terminated (not truncated)

    def to(self, device: torch.device | str) -> "Batch":
        return Batch({k: to_device(v, device) for k, v in self.obs.items()},
                     *(to_device(x, device) for x in self[1:]))
