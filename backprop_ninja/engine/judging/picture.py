"""The picture of a wrong gradient's error: where, on the lecture's instance, the learner's value
differs from autograd's, as an `ErrorMap` (plain numbers) that a report draws. One row wrong, an
error constant along the batch, a transposed half: each has a shape of its own in the map.
"""
from __future__ import annotations

import math

import torch

from ..exercises.compare import harmless_shape
from ..exercises.exercise import Instance
from ..results.records import ErrorMap

# Cells per side at most: more rows or columns than this are drawn in blocks.
MOST_CELLS = 48


def error_map(value: object, truth: torch.Tensor, instance: Instance) -> ErrorMap | None:
    """The map of `value` - `truth` on `instance`, whose sizes name the axes; None where there is no
    picture to draw: not a tensor of real numbers, a shape that differs (beyond leading 1s), a
    0-dimensional gradient, no entry that differs, or one that is nan or infinite (no colour fits)."""
    if not isinstance(value, torch.Tensor) or value.is_complex() or value.dtype == torch.bool:
        return None
    if truth.dim() == 0 or not harmless_shape(tuple(value.shape), tuple(truth.shape)):
        return None
    truth = truth.detach().to(torch.float64)
    yours = value.detach().reshape(truth.shape).to(torch.float64)
    difference = yours - truth
    if not difference.isfinite().all() or not difference.any():
        return None
    worst = tuple(int(i) for i in torch.unravel_index(difference.abs().argmax(), truth.shape))
    grid = difference.reshape(1, -1) if truth.dim() == 1 else difference.reshape(truth.shape[0], -1)
    block = (_block(grid.shape[0]), _block(grid.shape[1]))
    names = {size: name for name, size in reversed(instance.named_sizes().items())}  # the first name of a size
    labels = [_label(names, dim, size) for dim, size in enumerate(truth.shape)]
    rows, columns = ("", labels[0]) if truth.dim() == 1 else (labels[0], _product(labels[1:], grid.shape[1]))
    return ErrorMap(tuple(truth.shape), rows, columns, _cells(grid, block), block, worst, yours[worst].item(),
                    truth[worst].item())


def _block(size: int) -> int:
    """Entries per cell along an axis of `size`, so that it takes at most MOST_CELLS cells."""
    return math.ceil(size / MOST_CELLS)


def _cells(grid: torch.Tensor, block: tuple[int, int]) -> tuple[tuple[float, ...], ...]:
    """`grid` in blocks, each the signed entry of largest magnitude in it: a lone wrong entry is not
    averaged away, nor a sign flipped."""
    (rows, columns), (down, across) = grid.shape, block
    padded = torch.zeros(math.ceil(rows / down) * down, math.ceil(columns / across) * across, dtype=grid.dtype)
    padded[:rows, :columns] = grid  # zeros never outweigh an entry
    tiles = padded.reshape(padded.shape[0] // down, down, padded.shape[1] // across, across)
    tiles = tiles.permute(0, 2, 1, 3).flatten(2)
    kept = tiles.gather(2, tiles.abs().argmax(2, keepdim=True)).squeeze(2)
    return tuple(tuple(_significant(x) for x in row) for row in kept.tolist())


def _significant(x: float) -> float:
    """`x` to 4 significant digits: the map is for the eye, and its JSON stays small."""
    return float(f"{x:.4g}")


def _label(names: dict[int, str], dim: int, size: int) -> str:
    """A dimension by the name of its size, where the instance has one: "n (32)", else "dim 0 (32)"."""
    return f"{names.get(size, f'dim {dim}')} ({size})"


def _product(labels: list[str], size: int) -> str:
    """Dimensions flattened into one axis: "block_size×n_embd (30)"."""
    return f"{'×'.join(label.rsplit(' (', 1)[0] for label in labels)} ({size})"
