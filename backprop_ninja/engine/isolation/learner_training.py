"""A training run in a worker, driven by the learner's backward: for `ninja train`, saying its
progress, or streaming each step's gradients to the checker, which trains its own copy with them."""
from __future__ import annotations

import socket

import torch

from ..exercises.compare import harmless_shape
from ..exercises.errors import PackError
from ..exercises.exercise import ForwardExercise
from ..exercises.registry import PackPlace, load_place
from ..exercises.training import Batch, LearnerStopped
from ..results.records import type_name
from . import protocol
from .bars import GraderImportsBarred
from .execution import execute


class LearnerBackward:
    """The learner's code for a training exercise as a backward pass for `TrainingRun`, run here at
    each step."""

    def __init__(self, snippets: tuple[tuple[str, str], ...], exercise: ForwardExercise):
        self.snippets, self.exercise = snippets, exercise
        self.step = 0

    def __call__(self, params: dict[str, torch.Tensor], batch: Batch) -> tuple[float, list[torch.Tensor]]:
        namespace = self.exercise.namespace_from(params, batch)
        loss = namespace["loss"]
        assert isinstance(loss, torch.Tensor)  # the forward pass's own
        loss_value = loss.item()  # before the code runs, which may rebind the name
        _, raised, _ = execute(self.snippets, namespace)
        if raised:
            raise LearnerStopped(self.step, f"your code raised at {raised.where}: {raised.exception}", raised)
        values = self.exercise.gradients_from({name: namespace.get(name) for name in self.exercise.collected})
        grads = [self._usable(f"d{name}", values.get(f"d{name}"), param) for name, param in params.items()]
        self.step += 1
        return loss_value, grads

    def _usable(self, name: str, value: object, param: torch.Tensor) -> torch.Tensor:
        if isinstance(value, torch.Tensor) and value.shape == param.shape and value.dtype == param.dtype:
            return value  # the common case, on the hot path of every training step
        if not isinstance(value, torch.Tensor):
            raise LearnerStopped(self.step, f"{name} is not computed" if value is None
                                 else f"{name} is of type {type_name(value)}, not a tensor")
        if not harmless_shape(tuple(value.shape), tuple(param.shape)):
            raise LearnerStopped(self.step, f"{name} has shape {tuple(value.shape)}, "
                                 f"{name[1:]} is {tuple(param.shape)}")
        return value.reshape(param.shape).to(param.dtype)


def _training_exercise(key: str, place: PackPlace) -> ForwardExercise:
    """The exercise `key`, from its pack alone: a worker holds no other pack's definitions."""
    GraderImportsBarred.lifted = True
    try:
        exercise = {e.key: e for e in load_place(place).exercises}.get(key)
    finally:
        GraderImportsBarred.lifted = False
    assert isinstance(exercise, ForwardExercise)  # the checker trains only such exercises, of a pack it knows
    return exercise


def train(request: protocol.TrainRequest, sock: socket.socket) -> protocol.Reply:
    """A whole training run with the learner's backward, here, with no round trip a step: for
    `ninja train`, which decides no verdict, saying its progress; or, `stream`ing, sending each
    step's gradients as they come, for the checker to train its own copy of the model with (only
    what it computes from them counts). The reply holds the trained parameters, or where training
    stopped."""
    try:
        exercise = _training_exercise(request.exercise, request.pack)
    except PackError as e:
        return protocol.Refused(f"{e}: where it trains, a pack file may import of backprop_ninja "
                                "only its engine and its built-in packs")

    def progress(step: int, loss: float) -> None:
        if step % request.every == 0 or step == request.steps:
            protocol.send(sock, protocol.Progress(step, loss))

    assert exercise.training is not None  # the checker trains only exercises with a training stage
    run = exercise.training.run(request.examples)
    learner = LearnerBackward(request.snippets, exercise)

    def streaming(params: dict[str, torch.Tensor], batch: Batch) -> tuple[float, list]:
        loss, grads = learner(params, batch)
        protocol.send(sock, protocol.StepGradients(tuple(grads)))
        return loss, grads

    stopped = None
    try:
        if request.stream:
            run.train(streaming, request.steps)
        else:
            run.train(learner, request.steps, progress=progress)
    except LearnerStopped as stop:
        stopped = protocol.Stopped(stop.step, stop.reason, stop.raised)
    return protocol.Trained(stopped, dict(run.params))
