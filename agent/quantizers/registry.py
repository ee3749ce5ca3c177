"""Name -> quantizer class, and the Hydra config group that `quantizer=NAME` selects."""

import dataclasses
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from agent.quantizers.base import Quantizer

_QUANTIZERS: dict[str, type[Quantizer]] = {}


def register(name: str):
    """Class decorator: make a quantizer selectable as `quantizer=name`.

    The class's `Options` dataclass (with a `name` field defaulting to `name`) is the
    typed schema of `quantizer.*`, so unknown keys and wrong types fail at start-up.
    """

    def add(cls: type[Quantizer]) -> type[Quantizer]:
        options = getattr(cls, "Options", None)
        if options is None or not dataclasses.is_dataclass(options):
            raise TypeError(f"quantizer {cls.__name__} needs an `Options` dataclass")
        if options().name != name:
            raise TypeError(f"{cls.__name__}.Options.name must default to {name!r}")
        if name in _QUANTIZERS and _QUANTIZERS[name] is not cls:
            raise ValueError(f"quantizer name {name!r} is already taken by "
                             f"{_QUANTIZERS[name].__name__}")
        _QUANTIZERS[name] = cls
        ConfigStore.instance().store(group="quantizer", name=name, node=options)
        return cls

    return add


def available() -> list[str]:
    return sorted(_QUANTIZERS)


def build(cfg: Any, embed_dim: int) -> Quantizer:
    """Build the quantizer that `cfg.name` names (a dict, DictConfig or Options instance),
    taking an embedding of size embed_dim."""
    node = OmegaConf.structured(cfg) if dataclasses.is_dataclass(cfg) else OmegaConf.create(cfg)
    name = node.name
    if name not in _QUANTIZERS:
        raise KeyError(f"unknown quantizer {name!r}; available: {', '.join(available())}")
    cls = _QUANTIZERS[name]
    options = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls.Options), node))
    return cls(embed_dim, options)
