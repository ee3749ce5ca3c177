"""torch.compile for the hot parts of an update, falling back to eager if compiling fails."""

import warnings
from collections.abc import Callable

import torch


class MaybeCompiled:
    """Calls `fn` through torch.compile when `enabled`. If the compiled call raises and the
    eager call of the same arguments does not, compiling is what failed: warn once, naming
    the error, and run eager from then on. An error eager raises too is the caller's, and
    is raised as is."""

    def __init__(self, fn: Callable, enabled: bool, backend: str | Callable = "inductor"):
        self.eager = fn
        self.compiled = torch.compile(fn, backend=backend) if enabled else None

    def __call__(self, *args, **kwargs):
        if self.compiled is None:
            return self.eager(*args, **kwargs)
        try:
            return self.compiled(*args, **kwargs)
        except Exception as error:  # any compiler failure; a genuine error re-raises below
            result = self.eager(*args, **kwargs)
            name = getattr(self.eager, "__qualname__", repr(self.eager))
            first_line = (str(error).splitlines() or [""])[0]
            warnings.warn(f"torch.compile failed for {name} ({type(error).__name__}: "
                          f"{first_line}); running it eager. Set compile=false to skip "
                          f"compiling.", RuntimeWarning, stacklevel=2)
            self.compiled = None
            return result
