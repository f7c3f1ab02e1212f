"""A training stage's convergence check (exercise 4's): a training run driven only by the learner's
gradients, next to a twin run from the same initialisation and the same batches, driven by autograd."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

import torch

from ..exercises.errors import PackError
from ..exercises.exercise import ForwardExercise
from ..exercises.registry import place_of
from ..exercises.training import Batch, LearnerStopped, TrainingStage, autograd_backward
from ..isolation.runner import LearnerCode, WorkerRefused
from ..results.records import Convergence

# About 2 seconds of training for both runs together, so that `ninja check ex4` takes well under 10.
DEFAULT_STEPS = 2000
# The two smoothed loss curves may part by this much (nats) and still count as the same curve:
# right gradients keep them within ~1e-7 of each other; wrong ones drift by hundredths or more.
TRACKING_TOLERANCE = 0.01
# The learner's run must keep at least this share of the twin's fall in loss.
REQUIRED_FALL = 0.9


class _Streamed:
    """The learner's backward as the worker runs it, in a training run of its own, each step's
    gradients streamed here: this run's own parameters are stepped with them, and its own forward
    pass gives each step's loss. Whatever the worker's run does, only what these gradients do to
    this copy of the model counts."""

    def __init__(self, code: LearnerCode, exercise: ForwardExercise, steps: int):
        self.stream = code.session.stream_training(code, exercise.key, place_of(exercise.key), steps)
        self.forward = exercise.forward
        self.step = 0

    def __call__(self, params: dict[str, torch.Tensor], batch: Batch) -> tuple[float, list[torch.Tensor]]:
        try:
            grads = next(self.stream, None)
        except WorkerRefused as e:  # the pack file's fault, not the code's
            raise PackError(str(e)) from None
        if grads is None:
            raise LearnerStopped(self.step, "the worker ended its run early")
        tensors = [g for g in grads if isinstance(g, torch.Tensor)]
        if len(tensors) != len(params) or not all(g.shape == p.shape and g.dtype == p.dtype
                                                  for g, p in zip(tensors, params.values())):
            raise LearnerStopped(self.step, "the worker sent gradients that are not the model's")
        with torch.no_grad():
            loss = self.forward(params, batch)["loss"].item()
        self.step += 1
        return loss, tensors


def _loss(value: float) -> str:
    """A loss as the lecture prints it, four decimals; a run that blew up, shortly."""
    return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.3g}"


def smooth(losses: Sequence[float], window: int) -> list[float]:
    """The trailing mean over `window` steps (fewer at the start)."""
    out, total = [], 0.0
    for i, loss in enumerate(losses):
        total += loss - (losses[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out



def _stage(exercise: ForwardExercise) -> TrainingStage:
    assert exercise.training is not None  # only an exercise with a training stage is checked for convergence
    return exercise.training


@lru_cache(maxsize=8)
def twin_run(exercise: ForwardExercise, steps: int) -> tuple[float, ...]:
    """The losses of autograd's run: the same for every learner, so trained once per process."""
    return tuple(_stage(exercise).run(None).train(autograd_backward(exercise.forward), steps))


def check_convergence(exercise: ForwardExercise, code: LearnerCode, steps: int = DEFAULT_STEPS,
                      progress: Callable[[int, float], None] | None = None) -> Convergence:
    """Train the exercise's model twice from the same start on the same batches, with autograd and
    with the learner's gradients; pass when the learner's loss curve tracks autograd's and falls as far."""
    twin = twin_run(exercise, steps)
    window = max(1, min(100, steps // 10))
    twin_smooth = smooth(twin, window)
    start, twin_end = twin[0], twin_smooth[-1]
    try:
        learner = _stage(exercise).run(None).train(_Streamed(code, exercise, steps), steps, progress=progress)
    except LearnerStopped as stop:
        return Convergence(steps, False, f"stopped at step {stop.step}: {stop.reason}", start, twin_end,
                           None, None, window, stop.raised)
    learner_smooth = smooth(learner, window)
    gaps = [abs(a - b) for a, b in zip(learner_smooth, twin_smooth)]
    finite = all(math.isfinite(gap) for gap in gaps)  # a run that blew up to nan or inf neither tracks nor falls
    max_gap = max(gaps) if finite else math.inf
    learner_end = learner_smooth[-1]
    fell = finite and start - learner_end >= REQUIRED_FALL * (start - twin_end)
    tracks = max_gap <= TRACKING_TOLERANCE
    figures = (f"smoothed loss after {steps} steps: yours {_loss(learner_end)}, autograd's {_loss(twin_end)} "
               f"(from {_loss(start)}); largest gap between the curves {max_gap:.2g}")
    if tracks and fell:
        reason = f"converges like autograd: {figures}"
    elif not fell:
        reason = f"does not train as autograd does: {figures}"
    else:
        reason = f"drifts away from autograd's run (more than {TRACKING_TOLERANCE}): {figures}"
    return Convergence(steps, tracks and fell, reason, start, twin_end,
                       learner_end if math.isfinite(learner_end) else None, max_gap if finite else None, window)
