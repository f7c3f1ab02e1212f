"""backprop_ninja: check hand-written backpropagation against PyTorch autograd.

In a notebook: `from backprop_ninja import cmp` (the lecture's cmp, shape-aware),
`exercise_namespace("ex1")` (the lecture's forward tensors) and `check_answer("ex1")` (the check of
the answer cell you ran last). On the command line: `ninja check ex1`.
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["check_answer", "cmp", "exercise_namespace", "__version__"]


def __getattr__(name: str):
    # Imported on first use, so that `ninja --help` does not pay for importing torch.
    if name in ("check_answer", "cmp", "exercise_namespace"):
        from .check import notebook
        return getattr(notebook, name)
    raise AttributeError(f"module 'backprop_ninja' has no attribute {name!r}")
