"""Quantizers behind one contract (see base.py). Every module in this package is imported,
so a new quantizer is one file with one registered class."""

import importlib
import pkgutil

from agent.quantizers.base import (
    ContinuousQuantizer,
    PriorKind,
    Quantizer,
    QuantizerOutput,
    straight_through,
)
from agent.quantizers.registry import available, build, register

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "registry"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["ContinuousQuantizer", "PriorKind", "Quantizer", "QuantizerOutput", "available",
           "build", "register", "straight_through"]
