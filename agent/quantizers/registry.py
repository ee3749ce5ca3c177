"""Name -> quantizer class. Plain Python: the config schema (agent/config.py) listens for
registrations and makes each quantizer's `Options` the Hydra group `quantizer=NAME`."""

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from agent.errors import ConfigError
from agent.quantizers.base import Quantizer

_QUANTIZERS: dict[str, type[Quantizer]] = {}
_LISTENERS: list[Callable[[str, type[Quantizer]], None]] = []


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
        for listener in _LISTENERS:
            listener(name, cls)
        return cls

    return add


def on_register(listener: Callable[[str, type[Quantizer]], None]) -> None:
    """Call `listener(name, cls)` for every quantizer registered, now and later."""
    _LISTENERS.append(listener)
    for name, cls in _QUANTIZERS.items():
        listener(name, cls)


def available() -> list[str]:
    return sorted(_QUANTIZERS)


def quantizer_class(name: str) -> type[Quantizer]:
    if name not in _QUANTIZERS:
        raise KeyError(f"unknown quantizer {name!r}; available: {', '.join(available())}")
    return _QUANTIZERS[name]


def build(cfg: Any, embed_dim: int) -> Quantizer:
    """Build the quantizer that `cfg.name` names, taking an embedding of size embed_dim.
    `cfg` is its Options instance, or a mapping of option values (defaults fill the rest)."""
    if dataclasses.is_dataclass(cfg):
        return quantizer_class(cfg.name)(embed_dim, cfg)
    values = _plain(cfg)
    cls = quantizer_class(values.get("name", ""))
    fields = {f.name for f in dataclasses.fields(cls.Options)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError(f"quantizer.{unknown[0]} is not an option of {cls.__name__}; "
                          f"options: {', '.join(sorted(fields))}")
    return cls(embed_dim, cls.Options(**values))


def _plain(cfg: Mapping) -> dict:
    """A dict, or a config node turned into one (lists as lists)."""
    if isinstance(cfg, dict):
        return dict(cfg)
    from omegaconf import OmegaConf  # only a caller that already holds a config node gets here

    return OmegaConf.to_container(cfg, resolve=True)
