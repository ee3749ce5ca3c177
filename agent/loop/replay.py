"""Sequence replay: one preallocated ring per env stream, contiguous windows sampled uniformly
(or, for a share of each batch, favouring the newest).

A window never crosses a stream's write head, so its steps are consecutive in time;
episode boundaries inside a window are marked by `is_first`.
"""

import numpy as np
import torch
from torch import Tensor

from agent.data import Batch, Obs
from envs.observations import ObservationSpec


class Replay:
    FIELDS = ("action", "reward", "is_first", "cont")  # besides obs

    @staticmethod
    def bytes_per_step(spec: ObservationSpec, act_dim: int) -> int:
        """Memory of one stored step: observation, action and 3 scalars."""
        return spec.bytes_per_step() + 4 * act_dim + 3 * 4

    def __init__(self, capacity: int, num_envs: int, spec: ObservationSpec, act_dim: int,
                 seed: int = 0):
        self.length = capacity // num_envs  # steps kept per env stream
        if self.length < 1:
            raise ValueError(f"replay.capacity={capacity} is smaller than num_envs={num_envs}")
        shape = (num_envs, self.length)
        self.obs = spec.zeros(*shape)
        self.action = torch.zeros(*shape, act_dim)
        self.reward = torch.zeros(shape)
        self.is_first = torch.zeros(shape)
        self.cont = torch.zeros(shape)
        self.num_envs = num_envs
        self.written = 0  # steps written per stream, all streams move together
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return min(self.written, self.length) * self.num_envs

    def add(self, obs: Obs, action: Tensor, reward: Tensor, is_first: Tensor,
            cont: Tensor) -> None:
        """One step of every env stream: each argument has a leading [num_envs] axis."""
        i = self.written % self.length
        for key, value in obs.items():
            self.obs[key][:, i] = value
        self.action[:, i] = action
        self.reward[:, i] = reward
        self.is_first[:, i] = is_first
        self.cont[:, i] = cont
        self.written += 1

    def state_dict(self) -> dict:
        """Everything needed to continue exactly: the kept steps, the write position and the
        sampler's RNG."""
        kept = min(self.written, self.length)
        return {"written": self.written, "rng": self.rng.bit_generator.state,
                "obs": {k: v[:, :kept].clone() for k, v in self.obs.items()},
                **{name: getattr(self, name)[:, :kept].clone() for name in self.FIELDS}}

    def load_state_dict(self, state: dict) -> None:
        kept = min(state["written"], self.length)
        for key, value in state["obs"].items():
            self.obs[key][:, :kept] = value
        for name in self.FIELDS:
            getattr(self, name)[:, :kept] = state[name]
        self.written = state["written"]
        self.rng.bit_generator.state = state["rng"]

    def can_sample(self, seq_len: int) -> bool:
        return min(self.written, self.length) >= seq_len

    def sample(self, batch_size: int, seq_len: int,
               rng: np.random.Generator | None = None, recency: float = 0.0) -> Batch:
        """`rng`: another generator than the replay's own (diagnostics that must not change
        which batches training sees). `recency`: the share of windows whose age (steps from
        the newest window) is drawn log-uniformly, P(age = a) about proportional to 1 / (a + 1)
        as in DreamerV3's recency selector, instead of uniformly; with uniform draws alone a
        step written late in a run is trained on far less than one written early."""
        rng = rng or self.rng
        if not self.can_sample(seq_len):
            raise ValueError(f"replay holds {min(self.written, self.length)} steps per env, "
                             f"fewer than seq_len={seq_len}")
        kept = min(self.written, self.length)
        oldest = self.written - kept  # absolute step of the oldest kept entry
        env = rng.integers(self.num_envs, size=batch_size)
        starts = kept - seq_len + 1
        start = oldest + rng.integers(starts, size=batch_size)
        recent = rng.random(batch_size) < recency if recency > 0 else np.zeros(batch_size, bool)
        if recent.any():  # floor of a log-uniform draw on [1, starts + 1) is 1 + age
            age = np.floor((starts + 1) ** rng.random(int(recent.sum()))).astype(np.int64) - 1
            start[recent] = oldest + starts - 1 - np.minimum(age, starts - 1)
        steps = (start[:, None] + np.arange(seq_len)) % self.length
        env_t, steps_t = torch.from_numpy(env[:, None]), torch.from_numpy(steps)
        return Batch({k: v[env_t, steps_t] for k, v in self.obs.items()},
                     *(x[env_t, steps_t] for x in
                       (self.action, self.reward, self.is_first, self.cont)))
