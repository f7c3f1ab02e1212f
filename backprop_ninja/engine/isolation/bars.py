"""The bars a worker runs behind: autograd cannot record in it, and the grader's own modules cannot
be imported by the code it runs. Set once in the zygote, whose thread every worker continues."""
from __future__ import annotations

import importlib.abc
import sys

import torch
from torch.autograd.variable import Variable

from ..results.records import Raised

AUTOGRAD_USED = Raised.AUTOGRAD_USED
AUTOGRAD_MESSAGE = ("this exercise is a hand-written backward pass: autograd (loss.backward(), "
                    "torch.autograd.grad, torch.func) is not allowed")
# Autograd's dispatch keys, every backend's (an operation takes the keys of all its inputs: one
# nested or mkldnn tensor would bring its own), forward mode's included, and functorch's, which would
# put them back: excluded from the worker's thread, no operation records a graph or a tangent,
# whatever the code asks for, as in inference mode. ("Autograd" alone is an alias of them all.)
_AUTOGRAD_KEYS = tuple(name for name in dir(torch._C.DispatchKey) if name.startswith("Autograd") and name != "Autograd"
                       ) + ("ADInplaceOrView", "FuncTorchDynamicLayerFrontMode", "FuncTorchDynamicLayerBackMode",
                            "FuncTorchGradWrapper")
# What would take those keys back out of the excluded set, or enter functorch's autograd.
_KEY_RESTORERS = ((torch._C, "_dispatch_tls_set_dispatch_key_excluded"),
                  (torch._C._functorch, "_grad_increment_nesting"), (torch._C._functorch, "_jvp_increment_nesting"))
_GUARDS_THAT_RESTORE = ("_ForceDispatchKeyGuard", "_SetExcludeDispatchKeyGuard", "_RestorePythonTLSSnapshot",
                        "_InferenceMode")


class AutogradUsed(RuntimeError):
    """Raised inside learner code that reaches autograd's engine (backward, autograd.grad, torch.func)."""


class BarredEngine:
    """Stands in for autograd's engine, and for the class that makes new ones; remembers being
    reached even if the learner's code catches the exception."""

    reached = False

    def __call__(self, *args: object, **kwargs: object) -> BarredEngine:
        return self._refuse()

    def __getattr__(self, name: str) -> object:
        return self._refuse()

    def _refuse(self) -> BarredEngine:
        BarredEngine.reached = True
        raise AutogradUsed(AUTOGRAD_MESSAGE)


class GraderImportsBarred(importlib.abc.MetaPathFinder):
    """The grader's own modules are not the learner's to import in here; while the worker loads the
    one pack whose exercise it trains (`lifted`), that pack's may import the engine and the packs."""

    lifted = False

    def find_spec(self, fullname: str, path: object, target: object = None) -> None:
        parts = fullname.split(".")
        if parts[0] == __package__.split(".")[0] and not (self.lifted and parts[1:2] in (["engine"], ["packs"])):
            raise ImportError(f"{fullname} cannot be imported by the code being checked")
        return None


def bar_autograd() -> None:
    """Autograd cannot record in this process: its keys are excluded from the thread (which every
    worker forked from it continues), and whatever would restore them is barred, wherever torch's
    modules keep a reference to it. The engine is barred too, so that a call into it says what it
    is. (Threads, which would start without the exclusion, are denied by `confinement`.)"""
    for key in _AUTOGRAD_KEYS:
        torch._C._dispatch_tls_set_dispatch_key_excluded(getattr(torch._C.DispatchKey, key), True)
    barred = BarredEngine()
    originals = {id(getattr(module, name)) for module, name in _KEY_RESTORERS}
    for module in list(sys.modules.values()):
        for name, value in list(getattr(module, "__dict__", {}).items()):
            if id(value) in originals:
                setattr(module, name, barred)
    for name in _GUARDS_THAT_RESTORE:  # a class is reachable from its base too: barred in itself
        guard = getattr(torch._C, name)
        guard.__init__ = guard.__enter__ = barred
    torch._C._InferenceMode = _InferenceModeKept  # type: ignore[misc, assignment]
    Variable._execution_engine = barred  # type: ignore[assignment]
    setattr(torch._C, "_ImperativeEngine", barred)


_key_excluded = torch._C._dispatch_tls_is_dispatch_key_excluded


def autograd_restored() -> bool:
    """Has the code found a way to let autograd record again?"""
    return not all(_key_excluded(getattr(torch._C.DispatchKey, key)) for key in _AUTOGRAD_KEYS)


class _InferenceModeKept:
    """`torch.inference_mode()` where nothing records already: nothing to do; `inference_mode(False)`,
    which would let autograd record again, is barred."""

    def __init__(self, mode: bool) -> None:
        if not mode:
            BarredEngine()._refuse()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
