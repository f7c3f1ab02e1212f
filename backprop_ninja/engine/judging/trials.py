"""A trial: the learner's code run on each instance of an exercise, in its worker, and what it left
compared with autograd's truth in this process. The one loop that the check and the diagnosis share.

Namespaces and truths depend only on the exercise and the instance, never on the learner: each is
computed once per process and reused for every run and every submission (callers must not change
what they get).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, runtime_checkable

import torch

from ..exercises.exercise import Exercise, Instance
from ..isolation.runner import BlockRun, LearnerCode
from ..results.records import MISSING, NOT_DEFINED, PASS, Comparison, Diagnosis, RootCause, Status


@lru_cache(maxsize=64)
def truth(exercise: Exercise, instance: Instance) -> dict[str, torch.Tensor]:
    """Autograd's gradient for every gradient `exercise` follows, on `instance`."""
    return exercise.truth(instance)


@lru_cache(maxsize=64)
def namespace(exercise: Exercise, instance: Instance) -> dict[str, object]:
    """What the learner's code is given on `instance`: it runs on a copy, in its worker."""
    return exercise.namespace(instance)


# Each followed gradient's local status and diagnosis, and the root cause: what a diagnosis gives.
Verdicts = tuple[dict[str, tuple[Status | None, Diagnosis | None]], RootCause | None]


@dataclass(frozen=True)
class Trial:
    """The code's run on each instance (in the exercise's order, the lecture's first), and each
    compared gradient's comparisons on them."""

    instances: tuple[Instance, ...]
    runs: tuple[BlockRun, ...]
    comparisons: Mapping[str, tuple[Comparison, ...]]

    @property
    def lecture_run(self) -> BlockRun:
        return self.runs[0]

    def on_lecture(self, name: str) -> Comparison:
        return self.comparisons[name][0]

    def status(self, name: str) -> Status | None:
        """Pass when right on every instance; None where the code never wrote it."""
        if self.on_lecture(name).status in (MISSING, NOT_DEFINED):
            return None
        return PASS if all(c.status == PASS for c in self.comparisons[name]) else Status.FAIL

    def elsewhere(self, name: str) -> Iterator[tuple[Instance, Comparison, BlockRun]]:
        """The other instances, with `name`'s comparison and the run on each."""
        return zip(self.instances[1:], self.comparisons[name][1:], self.runs[1:])

    def first_failing_elsewhere(self, name: str) -> Instance | None:
        """For a gradient right on the lecture's instance: the first other one it is wrong on."""
        return next((instance for instance, c, _ in self.elsewhere(name) if c.status != PASS), None)


@runtime_checkable
class DiagnosesItself(Protocol):
    """An exercise whose gradients are each one step alone (micrograd's ops, probed one by one): it
    diagnoses a plain trial itself, where the engine would run the code again step by step."""

    def diagnose(self, plain: Trial) -> Verdicts: ...


def run_trial(exercise: Exercise, code: LearnerCode, names: tuple[str, ...],
              checkpoints: Mapping[tuple[str, int | None], list[str]] | None = None,
              instances: tuple[Instance, ...] | None = None) -> Trial:
    """Run `code` on each instance (by default all of the exercise's) and compare `names` with the
    truth: the gradients the code leaves (a plain run), or with `checkpoints`, each gradient as it
    was when the code had finished writing it, after which the right value replaced it (a local run:
    what each step does with right inputs)."""
    instances = instances or exercise.instances
    runs: list[BlockRun] = []
    comparisons: dict[str, list[Comparison]] = {name: [] for name in names}
    for instance in instances:
        right = truth(exercise, instance)
        if checkpoints is None:
            run = code.run(namespace(exercise, instance), exercise.collected)
            values = exercise.gradients_from(run.values)
        else:
            run = code.run(namespace(exercise, instance), exercise.collected, checkpoints, right)
            values = run.finished
        runs.append(run)
        for name, comparison in exercise.compare(instance, values, right, names).items():
            comparisons[name].append(comparison)
    return Trial(instances, tuple(runs), {name: tuple(c) for name, c in comparisons.items()})

