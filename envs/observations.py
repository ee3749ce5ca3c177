"""What the agent takes of gymnasium's observation spaces, and how observations become its
dict of tensors: each key is a vector (float32 [d]; a scalar is a vector of size 1) or an
image (uint8 [C, S, S], resized to the configured S x S, or padded to it with image_fit
`pad`, or kept at its own size where `auto` allows). With image_size `flat` an image is a
vector of its pixels instead (in [0, 1]), read by the MLP encoder: for small symbolic boards
such as MinAtar's."""

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from envs.spaces import SpaceError

AUTO_LARGEST = 64
"""With image_size="auto": the largest native side kept, and the size any other image is
resized to."""

SUPPORTED = ("a scalar or 1-D Box of any dtype (vector, read as float32), a uint8 Box of "
             "shape (H, W), (H, W, C) (image) or a bool Box of shape (H, W, C) (binary image, "
             "e.g. MinAtar), or a Dict of those")


@dataclass(frozen=True)
class ObsKey:
    shape: tuple[int, ...]  # as the agent sees it: (d,) for a vector, (C, S, S) for an image
    image: bool
    scale: float = 1.0      # a vector's values are multiplied by it (a flattened uint8 image)


class ObservationSpec:
    """The agent's view of an observation space. A plain (non-Dict) space becomes the one
    key `obs`."""

    def __init__(self, space: gym.Space, image_size: int | str = "auto",
                 image_fit: str = "resize"):
        self.image_size, self.image_fit = image_size, known_fit(image_fit)
        if isinstance(space, gym.spaces.Dict):
            self.keys = {name: self._key(sub, f"observation key {name!r}")
                         for name, sub in space.spaces.items()}
            self.dict = True
        else:
            self.keys = {"obs": self._key(space, "observation space")}
            self.dict = False

    def _key(self, space: gym.Space, what: str) -> ObsKey:
        if isinstance(space, gym.spaces.Box):
            # Any dtype, e.g. Atari RAM (128,) uint8, DMC's float64 vectors; a scalar (DMC
            # walker's `height`) is a vector of one.
            if len(space.shape) <= 1:
                return ObsKey((int(np.prod(space.shape)),), image=False)
            image = (space.dtype == np.uint8 and len(space.shape) in (2, 3)) or (
                space.dtype == np.bool_ and len(space.shape) == 3)
            if image and self.image_size == "flat":
                scale = 1.0 if space.dtype == np.bool_ else 1 / 255
                return ObsKey((int(np.prod(space.shape)),), image=False, scale=scale)
            if image:
                channels = space.shape[2] if len(space.shape) == 3 else 1
                side = self._side(space.shape[:2])
                height, width = space.shape[:2]
                if self.image_fit == "pad" and max(height, width) > side:
                    raise SpaceError(
                        f"{what} {space}: env.image_fit=pad places its {height} x {width} "
                        f"images in a {side} x {side} canvas, which they do not fit; set "
                        f"env.image_size to a multiple of 16 of at least {max(height, width)}"
                        f", or env.image_fit=resize")
                return ObsKey((channels, side, side), image=True)
        raise SpaceError(f"{what} {space} is not supported; supported: {SUPPORTED}")

    def _side(self, native: tuple[int, ...]) -> int:
        """The side an image of `native` (H, W) is stored and encoded at. `auto` keeps a
        small image's own size: enlarging a 16 x 16 image to 64 x 64 costs the CNN 16x."""
        if self.image_size != "auto":
            return int(self.image_size)
        height, width = native
        keep = height == width and height % 16 == 0 and height <= AUTO_LARGEST
        return height if keep else AUTO_LARGEST

    @property
    def vector_keys(self) -> list[str]:
        return [k for k, v in self.keys.items() if not v.image]

    @property
    def image_keys(self) -> list[str]:
        return [k for k, v in self.keys.items() if v.image]

    def to_tensors(self, obs) -> dict[str, Tensor]:
        """A batch of raw observations (leading axis N, as a vector env returns them; a dict
        of such arrays for a Dict space) -> {key: tensor [N, *shape]}."""
        raw = obs if self.dict else {"obs": obs}
        return {k: self._convert(np.asarray(raw[k]), spec) for k, spec in self.keys.items()}

    def _convert(self, x: np.ndarray, spec: ObsKey) -> Tensor:
        if not spec.image:  # [N] scalars -> [N, 1]; float64 -> float32; flat images -> [N, d]
            vector = torch.as_tensor(x.reshape(len(x), *spec.shape), dtype=torch.float32)
            return vector * spec.scale if spec.scale != 1.0 else vector
        binary = x.dtype == np.bool_
        if binary:
            x = x.astype(np.uint8) * 255
        image = torch.as_tensor(np.ascontiguousarray(x))  # dm_control renders flipped views
        image = image.unsqueeze(1) if image.dim() == 3 else image.permute(0, 3, 1, 2)
        size = spec.shape[-1]
        if image.shape[-2:] != (size, size):
            if self.image_fit == "pad":
                return pad_to(image, size)
            # Binary images stay binary (nearest); others average when shrinking and
            # interpolate when growing. Back to uint8 for replay.
            shrink = image.shape[-1] >= size and image.shape[-2] >= size
            mode = "nearest-exact" if binary else "area" if shrink else "bilinear"
            resized = F.interpolate(image.float(), size=(size, size), mode=mode)
            image = resized.round().clamp(0, 255).to(torch.uint8)
        return image.contiguous()

    def bytes_per_step(self) -> int:
        return sum(int(np.prod(k.shape)) * (1 if k.image else 4) for k in self.keys.values())

    def zeros(self, *leading: int) -> dict[str, Tensor]:
        """Preallocated storage: {key: zeros [*leading, *shape]} in the key's dtype."""
        return {k: torch.zeros(*leading, *v.shape, dtype=torch.uint8 if v.image else
                               torch.float32) for k, v in self.keys.items()}


FITS = ("resize", "pad")


def known_fit(fit: str) -> str:
    """`fit` if it is an image_fit this module knows (a misspelt one would silently resize)."""
    if fit not in FITS:
        raise ValueError(f"image_fit={fit!r}: must be one of {', '.join(FITS)}")
    return fit


def pad_to(image: Tensor, side: int) -> Tensor:
    """[N, C, H, W] images at the centre of [N, C, side, side] zeros (the top and left
    margins are the smaller ones where the margin is odd)."""
    height, width = image.shape[-2:]
    top, left = (side - height) // 2, (side - width) // 2
    canvas = image.new_zeros(*image.shape[:-2], side, side)
    canvas[..., top:top + height, left:left + width] = image
    return canvas


def cell_pixels(cells: int, side: int, fit: str) -> Tensor:
    """Where each of an image's `cells` rows (or columns) is drawn once the image is stored
    `side` pixels high (or wide): a stored row that shows it (under `resize`, nearest
    neighbour, the one at the cell's centre: stored row p shows row floor((p + 1/2) ·
    cells / side)); under `pad`, its own row in the canvas."""
    rows = torch.arange(cells)
    if known_fit(fit) == "pad":
        return rows + (side - cells) // 2
    return (2 * rows + 1) * side // (2 * cells)


def pixel_cells(side: int, cells: int, fit: str) -> Tensor:
    """The inverse of cell_pixels: for each of `side` stored rows, the image row it shows,
    -1 for the empty canvas around a padded image."""
    stored = torch.arange(side)
    if known_fit(fit) == "pad":
        rows = stored - (side - cells) // 2
        return torch.where((rows >= 0) & (rows < cells), rows, -1)
    return (2 * stored + 1) * cells // (2 * side)


def vector_spec(size: int) -> ObservationSpec:
    """The spec of a plain vector observation of `size` dims."""
    return ObservationSpec(gym.spaces.Box(-np.inf, np.inf, (size,), np.float32))
