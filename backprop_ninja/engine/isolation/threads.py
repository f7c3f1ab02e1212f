"""How many threads torch uses. One, unless the user says otherwise: the tensors here are small
(batch 32, hidden 200), threads gain nothing on them, and on a busy machine they spin and fight
over the cores, making a check several times slower."""
from __future__ import annotations

import os

import torch


def use_threads(threads: int | None = None) -> int:
    """Run torch on `threads` threads; by default on one, or on what OMP_NUM_THREADS asks for
    (torch has read it already). Returns the number in use."""
    if threads is None and not os.environ.get("OMP_NUM_THREADS"):
        threads = 1
    if threads is not None:
        torch.set_num_threads(threads)
    return torch.get_num_threads()
