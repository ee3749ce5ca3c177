"""Convolutional encoder and decoder for image observations (S x S, S a multiple of 16):
up to four stride-2 stages, DreamerV3-style, widths depth x (1, 2, 4, 8). The encoder halves
the image until its side reaches `min_res` (or after four stages), and the decoder grows it
back from there: DreamerV3 stops at 4 x 4 (its networks refuse a smaller last stage), where
a 16 x 16 image would otherwise be squeezed to 1 x 1 and every position carried by channels.

On the CPU, weights and activations are channels-last (NHWC), the layout oneDNN's
convolutions run fastest on (README, Speed). Elsewhere they stay channels-first, which is
unmeasured there but safe: CUDA's GroupNorm has long returned channels-first outputs
(pytorch/pytorch#111824), so NHWC would mean a copy at every block."""

import torch
from torch import Tensor, nn

STAGES = 4
LIKELIHOODS = ("mse", "bernoulli")
MIN_PROB = 1e-3  # a Bernoulli mean frame's least probability of a pixel being lit, or dark


def stages(size: int, min_res: int) -> int:
    """How many stride-2 stages an S x S image gets: at most four, none past `min_res`."""
    count = 0
    while count < STAGES and size // 2 ** (count + 1) >= min_res:
        count += 1
    return count


def prefer_cpu_layout(module: nn.Module) -> None:
    """Makes the module's conv weights channels-last if they live on the CPU."""
    if next(module.parameters()).is_cpu:
        module.to(memory_format=torch.channels_last)


def _cpu_layout(x: Tensor) -> Tensor:
    """Activations [N, C, H, W] in the layout the weights were given."""
    return x.contiguous(memory_format=torch.channels_last) if x.is_cpu else x


def _block(conv: nn.Module, channels: int) -> list[nn.Module]:
    return [conv, nn.GroupNorm(1, channels), nn.SiLU()]


class ConvEncoder(nn.Module):
    """uint8 images [..., C, S, S] -> embeddings [..., out_dim]."""

    def __init__(self, shape: tuple[int, int, int], depth: int, min_res: int = 1):
        super().__init__()
        channels, size, _ = shape
        count = stages(size, min_res)
        layers: list[nn.Module] = []
        width = channels
        for stage in range(count):
            out = depth * 2**stage
            layers += _block(nn.Conv2d(width, out, 4, stride=2, padding=1, bias=False), out)
            width = out
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.out_dim = width * (size // 2**count) ** 2

    def forward(self, image: Tensor) -> Tensor:
        lead = image.shape[:-3]
        x = image.reshape(-1, *image.shape[-3:]).float() / 255.0 - 0.5
        return self.net(_cpu_layout(x)).reshape(*lead, self.out_dim)


class ConvDecoder(nn.Module):
    """Features [..., feat_dim] -> images [..., C, S, S]: with `likelihood="mse"` on the
    encoder's input scale (pixel / 255 - 0.5), scored by squared error (DreamerV3's); with
    `"bernoulli"` the logits of each pixel being lit (pixel / 255 its probability), scored by
    cross-entropy. On boards of lit and dark cells (MinAtar) a cell drawn dark where it is
    lit costs at most 1 in squared error, whatever its object; in cross-entropy it costs
    as much as the model was sure of the dark. Measured: these convnets as an autoencoder
    drew Space Invaders' one-cell bullets within 2,000 updates under cross-entropy and not
    at all under squared error (benchmarks/board_autoencoder.py, docs/results/minatar.md).

    `mean_frame=True` adds a learned per-pixel image to the output and starts the last
    layer at zero, so that the decoder's first prediction is that image whatever the
    features; `start_from` sets it to the mean of the first replayed batch. Then the first
    updates see only how frames differ from their mean, not a large error common to every
    frame (a random start predicts about 0 for MinAtar's background of -0.5: its first
    gradients, hundreds of times the later ones, flatten the encoder's output between
    frames, and Adam's second moments keep it flat for thousands of updates;
    docs/results/minatar.md)."""

    def __init__(self, feat_dim: int, shape: tuple[int, int, int], depth: int,
                 mean_frame: bool = False, min_res: int = 1, likelihood: str = "mse"):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood={likelihood!r}: use one of {LIKELIHOODS}")
        self.likelihood = likelihood
        channels, size, _ = shape
        count = stages(size, min_res)
        self.start = (depth * 2 ** (count - 1), size // 2**count)
        width = self.start[0]
        self.project = nn.Linear(feat_dim, width * self.start[1] ** 2)
        layers: list[nn.Module] = []
        for stage in reversed(range(count - 1)):
            out = depth * 2**stage
            layers += _block(nn.ConvTranspose2d(width, out, 4, stride=2, padding=1,
                                                bias=False), out)
            width = out
        layers.append(nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1))
        self.net = nn.Sequential(*layers)
        self.shape = shape
        self.mean_frame = nn.Parameter(torch.zeros(shape)) if mean_frame else None
        if mean_frame:
            nn.init.zeros_(layers[-1].weight)
            nn.init.zeros_(layers[-1].bias)

    def forward(self, feat: Tensor) -> Tensor:
        lead = feat.shape[:-1]
        width, side = self.start
        x = self.project(feat.reshape(-1, feat.shape[-1])).reshape(-1, width, side, side)
        image = self.net(_cpu_layout(x)).reshape(*lead, *self.shape)
        return image if self.mean_frame is None else image + self.mean_frame

    @torch.no_grad()
    def start_from(self, images: Tensor) -> None:
        """Set the mean frame to the prediction of the mean of `images` [..., C, S, S]
        (uint8): itself on the squared-error scale, its log-odds (kept off 0 and 1, where
        they are infinite) for "bernoulli"."""
        if self.mean_frame is None:
            return
        if self.likelihood == "mse":
            self.mean_frame.copy_(image_target(images).reshape(-1, *self.shape).mean(0))
        else:
            lit = (images.float() / 255.0).reshape(-1, *self.shape).mean(0)
            self.mean_frame.copy_(torch.logit(lit.clamp(MIN_PROB, 1 - MIN_PROB)))

    def pixels(self, prediction: Tensor) -> Tensor:
        """This decoder's output -> uint8 pixels (for "bernoulli", the probability × 255)."""
        if self.likelihood == "mse":
            return to_pixels(prediction)
        return (torch.sigmoid(prediction.float()) * 255.0).round().to(torch.uint8)

    def loss(self, prediction: Tensor, image: Tensor) -> Tensor:
        """The negative log-likelihood of uint8 `image` [..., C, S, S], summed per image
        (for "mse", the squared error: a unit-variance Gaussian's, up to constants)."""
        if self.likelihood == "mse":
            return (prediction - image_target(image)).pow(2).sum((-3, -2, -1))
        return nn.functional.binary_cross_entropy_with_logits(
            prediction, image.to(prediction.dtype) / 255.0, reduction="none").sum((-3, -2, -1))


def image_target(image: Tensor) -> Tensor:
    """What the decoder predicts for a uint8 image."""
    return image.float() / 255.0 - 0.5


def to_pixels(prediction: Tensor) -> Tensor:
    """A decoder output back to uint8 pixels."""
    return ((prediction.float() + 0.5) * 255.0).round().clamp(0, 255).to(torch.uint8)
