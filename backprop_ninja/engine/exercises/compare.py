"""Comparing one hand-written gradient with autograd's, the way the lecture's `cmp` does, without
its blind spots: shapes are checked before values, so broadcasting cannot make a wrong answer pass.
"""
from __future__ import annotations

import math

import torch

from ..results.records import ERROR, FAIL, MISSING, PASS, Comparison, type_name


def _shape(shape) -> str:
    return str(tuple(shape))


def compare(value: object, truth: torch.Tensor, rtol: float, atol: float, rounding: float = 0.0) -> Comparison:
    """Grade `value` against the true gradient `truth`: missing, not a tensor, shape, then values.
    `approximate` is the lecture's `cmp` (allclose with `rtol`, `atol`); a value that misses it by no
    more than `rounding` (the precision's noise, for a gradient that is only that) still passes."""
    expected = tuple(truth.shape)
    if value is None:
        return Comparison(MISSING, expected, note="not computed yet")
    if not isinstance(value, torch.Tensor):
        return Comparison(ERROR, expected, note=f"is of type {type_name(value)}, not a tensor")
    shape = tuple(value.shape)
    if value.is_complex() or value.dtype == torch.bool:
        return Comparison(ERROR, expected, shape, note=f"has dtype {value.dtype}, not a real number type")
    note = ""
    leading_ones = shape != expected and harmless_shape(shape, expected)
    if shape != expected:
        if not leading_ones:
            return Comparison(FAIL, expected, shape,
                              note=f"wrong shape: expected {_shape(expected)}, got {_shape(shape)}")
        note = f"shape {_shape(shape)} where the tensor is {_shape(expected)}: fine, it differs only by leading 1s"
        value = value.reshape(expected)
    value = value.detach().to(truth.dtype)
    exact = torch.equal(value, truth)
    approximate = torch.allclose(value, truth, rtol=rtol, atol=atol)
    diff = (value - truth).abs().max().item() if truth.numel() else 0.0
    maxdiff = diff if math.isfinite(diff) else None
    within_rounding = not approximate and maxdiff is not None and maxdiff <= rounding
    if maxdiff is None:
        note = "contains nan or inf"
    elif within_rounding:
        precision = str(truth.dtype).removeprefix("torch.")
        note = f"maxdiff {maxdiff:.1g}: {precision} rounding of a gradient that is zero in exact arithmetic, fine"
    return Comparison(PASS if approximate or within_rounding else FAIL, expected, shape, exact, approximate, maxdiff,
                      note, leading_ones)


def harmless_shape(shape: tuple[int, ...], expected: tuple[int, ...]) -> bool:
    """The one shape leniency: a shape that differs from the tensor's only by leading 1s ((64,) for
    (1, 64), as the lecture's own dbnmeani) holds the same values in the same order."""
    return _strip_leading_ones(shape) == _strip_leading_ones(expected)


def _strip_leading_ones(shape: tuple[int, ...]) -> tuple[int, ...]:
    i = 0
    while i < len(shape) and shape[i] == 1:
        i += 1
    return shape[i:]
