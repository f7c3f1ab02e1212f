"""Helpers for a learner's notebook: the lecture's `cmp`, shape-aware, and the exercise namespace."""
from __future__ import annotations

import torch

from .compare import strip_leading_ones
from .exercises import exercise_namespace

__all__ = ["cmp", "exercise_namespace"]


def cmp(s: str, dt: torch.Tensor, t: torch.Tensor) -> None:
    """Print whether the hand-written gradient `dt` matches `t.grad`: exact, approximate, maxdiff.

    The lecture's line, plus a word on shapes where they differ: the lecture's version broadcasts,
    so a wrong shape can pass it."""
    if t.grad is None:
        print(f"{s:15s} | {s} has no .grad: call {s}.retain_grad() before loss.backward()")
        return
    try:
        ex = torch.all(dt == t.grad).item()
        app = torch.allclose(dt, t.grad)
        maxdiff = (dt - t.grad).abs().max().item()
    except RuntimeError:
        print(f"{s:15s} | shape {tuple(dt.shape)} cannot be compared with {s}'s {tuple(t.grad.shape)}")
        return
    line = f"{s:15s} | exact: {str(ex):5s} | approximate: {str(app):5s} | maxdiff: {maxdiff}"
    if dt.shape != t.grad.shape:
        harmless = strip_leading_ones(tuple(dt.shape)) == strip_leading_ones(tuple(t.grad.shape))
        verdict = "fine: only leading 1s differ" if harmless else "passes here only by broadcasting"
        line += f" | shape {tuple(dt.shape)}, {s} is {tuple(t.grad.shape)}: {verdict}"
    print(line)

