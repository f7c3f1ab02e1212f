"""An exercise's training stage: what a pack declares for it (its run, its data, how a trained model
is measured), and the training loop itself, for any problem: SGD on the leaves, one batch a step, at
the learning rate its schedule gives; driven by autograd's backward (the twin every learner's run is
measured against) or by a learner's."""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch

from ..results.records import Raised
from .forward import ForwardPass

Batch = Mapping[str, object]  # what the forward pass reads besides the leaves, for one step
# A backward pass: (leaves, batch) -> (the batch's loss, the gradients in the leaves' order).
Backward = Callable[[dict[str, torch.Tensor], Batch], tuple[float, list[torch.Tensor]]]
# A data set's inputs and targets, to train on.
Examples = tuple[torch.Tensor, torch.Tensor]


class DataError(Exception):
    """Data a training stage cannot train on (a words file that is not one): a user error."""


@dataclass(frozen=True)
class Schedule:
    """The learning rate of each step: `rate`, then `decayed` from `decay_from` of the run on."""

    rate: float
    decayed: float
    decay_from: float

    def decay_at(self, steps: int) -> int:
        return int(steps * self.decay_from)

    def describe(self) -> str:
        return f"lr {self.rate:g}, then {self.decayed:g} from {self.decay_from:.0%} of the steps"


@dataclass(frozen=True)
class Dataset:
    """Examples to train on and to measure the trained model with, and where they came from."""

    source: str
    train: Examples
    val: Examples


@dataclass(frozen=True)
class Evaluation:
    """A trained model, measured: its loss on the training and validation examples, and samples of it."""

    train_loss: float
    val_loss: float
    samples: tuple[str, ...]


@dataclass(frozen=True)
class TrainingStage:
    """What an exercise that ends in training declares: a fresh run of its loop (on `Examples`, its own
    by default: the same start and the same batches every time), its data (from a file the user names,
    or its own), how a trained model is measured, and the run `ninja train` makes by default."""

    run: Callable[[Examples | None], TrainingRun]
    data: Callable[[Path | None], Dataset]  # raises DataError for a file it cannot train on
    evaluate: Callable[[dict[str, torch.Tensor], Dataset, int], Evaluation]  # (params, data, samples)
    steps: int  # `ninja train`'s default
    description: str  # the run in words, for `ninja train`
    # What a training step may take of a check's time limit: a right backward takes a millisecond or
    # so, even on a busy machine.
    seconds_per_step: float = 0.06


class LearnerStopped(Exception):
    """The learner's backward could not drive a training step."""

    def __init__(self, step: int, reason: str, raised: Raised | None = None):
        super().__init__(reason)
        self.step, self.reason, self.raised = step, reason, raised


class TrainingRun:
    """One run: the leaves as drawn, then every batch from `batches` (which draws from the same
    seeded generator), so that two runs made alike see the same start and the same batches."""

    def __init__(self, params: dict[str, torch.Tensor], batches: Callable[[], Batch], schedule: Schedule):
        self.params = params
        self.next_batch = batches
        self.schedule = schedule
        self.step = 0

    def update(self, grads: list[torch.Tensor], lr: float) -> None:
        with torch.no_grad():
            for param, grad in zip(self.params.values(), grads):
                param += -lr * grad
        self.step += 1

    def train(self, backward: Backward, steps: int, decay_at: int | None = None,
              progress: Callable[[int, float], None] | None = None) -> list[float]:
        """Take `steps` steps at the schedule's rate, decayed from `decay_at` (where the schedule says
        by default); return the loss of every step."""
        decay_at = self.schedule.decay_at(steps) if decay_at is None else decay_at
        losses = []
        for i in range(steps):
            loss, grads = backward(self.params, self.next_batch())
            self.update(grads, self.schedule.rate if i < decay_at else self.schedule.decayed)
            losses.append(loss)
            if progress:
                progress(i + 1, loss)
        return losses


def autograd_backward(forward: ForwardPass) -> Backward:
    """The lecture's loop with `loss.backward()`."""
    def backward(params: dict[str, torch.Tensor], batch: Batch) -> tuple[float, list[torch.Tensor]]:
        leaves = {k: p.detach().requires_grad_() for k, p in params.items()}
        with torch.enable_grad():
            loss = forward(leaves, batch)["loss"]
            loss.backward()
        grads = [leaf.grad for leaf in leaves.values()]
        assert all(g is not None for g in grads)  # every leaf feeds the loss
        return loss.item(), cast(list[torch.Tensor], grads)
    return backward


class Progress:
    """Current loss, steps per second and time left, for a long training run."""

    def __init__(self, total: int, echo: Callable[[str], None], every: int):
        self.total, self.echo, self.every = total, echo, every
        self.start = time.perf_counter()

    def __call__(self, step: int, loss: float) -> None:
        if step % self.every and step != self.total:
            return
        elapsed = time.perf_counter() - self.start
        rate = step / elapsed if elapsed else 0.0
        left = (self.total - step) / rate if rate else 0.0
        self.echo(f"{step:7d}/{self.total:7d}  loss {loss:.4f}  {rate:6.0f} steps/s  "
                  f"{int(left) // 60:d}:{int(left) % 60:02d} left")
