"""torch.compile for the hot parts of an update, falling back to eager if compiling fails."""

import contextlib
import warnings
from collections.abc import Callable

import torch


def _compile_backward_now():
    """AOTAutograd compiles a backward lazily, at the first .backward(), which runs outside
    the call guarded here; where torch can, compile it with the forward instead."""
    import torch._functorch.config  # imported here: only compiled runs pay for it

    if hasattr(torch._functorch.config, "force_non_lazy_backward_lowering"):
        return torch._functorch.config.patch(force_non_lazy_backward_lowering=True)
    return contextlib.nullcontext()


class MaybeCompiled:
    """Calls `fn` through torch.compile when `enabled`. If compiling raises (a dynamo or
    backend error) and the eager call of the same arguments succeeds, warn once, naming
    the error, and run eager from then on. An error eager raises too is the caller's, and is
    raised as is. Other errors (out of memory, say) are never blamed on compiling.

    Before the eager re-run torch's RNG is put back as it was, so the failed attempt draws
    no extra random numbers. (Should a graph before a graph break have run and changed
    module buffers, that change stays: compiling is tried, and can fail, only on the first
    calls, where it is rare.)"""

    def __init__(self, fn: Callable, enabled: bool, backend: str | Callable = "inductor"):
        self.eager = fn
        self.compiled = torch.compile(fn, backend=backend) if enabled else None

    def __call__(self, *args, **kwargs):
        if self.compiled is None:
            return self.eager(*args, **kwargs)
        import torch._dynamo  # free here (torch.compile loaded it); at the top: 1-2 s a run

        rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        try:
            with _compile_backward_now():
                return self.compiled(*args, **kwargs)
        except torch._dynamo.exc.TorchDynamoException as error:
            torch.set_rng_state(rng)
            if cuda_rng is not None:
                torch.cuda.set_rng_state_all(cuda_rng)
            result = self.eager(*args, **kwargs)
            name = getattr(self.eager, "__qualname__", repr(self.eager))
            first_line = (str(error).splitlines() or [""])[0]
            warnings.warn(f"torch.compile failed for {name} ({type(error).__name__}: "
                          f"{first_line}); running it eager. Set compile=false to skip "
                          f"compiling.", RuntimeWarning, stacklevel=2)
            self.compiled = None
            return result
