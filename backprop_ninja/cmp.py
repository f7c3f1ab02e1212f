"""The lecture's `cmp`, for a learner's own notebook: the same printed line, plus a word on shapes
where they differ, because the lecture's version broadcasts and can pass a wrong shape."""
from __future__ import annotations

import torch

from .compare import strip_leading_ones


def cmp(s: str, dt: torch.Tensor, t: torch.Tensor) -> None:
    """Print whether the hand-written gradient `dt` matches `t.grad`: exact, approximate, maxdiff."""
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

