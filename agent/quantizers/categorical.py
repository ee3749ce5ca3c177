"""Straight-through categorical latents (DreamerV2/V3): sample one class per group."""

from dataclasses import dataclass

from torch import Tensor, nn

from agent.distributions import one_hot, sample_categorical, unimix_logits
from agent.errors import ConfigError
from agent.quantizers.base import Quantizer, QuantizerOutput, straight_through
from agent.quantizers.registry import register


@dataclass
class CategoricalOptions:
    name: str = "categorical"
    groups: int = 16
    """Number of categorical variables G."""
    classes: int = 16
    """Classes per variable K; the code is G one-hot vectors of size K."""
    unimix: float = 0.01
    """Uniform mass mixed into the posterior."""


@register("categorical")
class Categorical(Quantizer):
    """Forward: a sampled one-hot per group. Backward: `sg(onehot) + p - sg(p)`, the gradient
    of the (unimix) class probabilities."""

    Options = CategoricalOptions
    bounded = True

    def __init__(self, embed_dim: int, options: CategoricalOptions):
        if options.groups < 1 or options.classes < 2 or not 0 <= options.unimix < 1:
            raise ConfigError(f"quantizer needs groups >= 1, classes >= 2, 0 <= unimix < 1; "
                              f"got {options.groups}, {options.classes}, {options.unimix}")
        super().__init__(options.groups, options.classes, options.groups * options.classes)
        self.unimix = options.unimix
        self.proj = nn.Linear(embed_dim, self.code_dim)

    def forward(self, e: Tensor) -> QuantizerOutput:
        logits = self.proj(e).float().unflatten(-1, (self.groups, self.classes))
        log_probs = unimix_logits(logits, self.unimix)
        probs = log_probs.exp()
        indices = sample_categorical(log_probs.detach())
        code = straight_through(one_hot(indices, self.classes), probs)
        return self.output(code.flatten(-2), indices, probs)

    def indices_to_code(self, indices: Tensor) -> Tensor:
        return one_hot(indices, self.classes).flatten(-2)
