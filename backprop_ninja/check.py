"""Checking an exercise: run the learner's code on every instance, compare what it left with
autograd's gradients, and sum the comparisons up into one result per gradient.

Running and comparing are kept apart: `run_block` only ever sees the learner's namespace, and the
truth is computed here, after it has finished.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from .compare import ERROR, FAIL, MISSING, PASS, Comparison, compare
from .exercises import Exercise
from .model import Instance
from .runner import BlockRun, Raised, run_block
from .submission import Snippet


@dataclass(frozen=True)
class GradientResult:
    """One gradient's verdict over all instances. `exact`, `approximate`, `maxdiff` and `shape` are
    the lecture instance's, as the lecture's `cmp` would print them; `status` is over all."""

    name: str
    status: str
    expected_shape: tuple[int, ...]
    shape: tuple[int, ...] | None
    exact: bool | None
    approximate: bool | None
    maxdiff: float | None
    note: str
    hint: str
    instances: tuple[Comparison, ...]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["instances"] = [asdict(c) for c in self.instances]
        return d


@dataclass(frozen=True)
class InstanceError:
    instance: str
    raised: Raised

    def to_dict(self) -> dict:
        return {"instance": self.instance, **asdict(self.raised), "where": self.raised.where}


@dataclass(frozen=True)
class CheckResult:
    exercise: str
    source: str
    gradients: tuple[GradientResult, ...]
    instances: tuple[Instance, ...]
    errors: tuple[InstanceError, ...] = ()
    output: str = ""

    @property
    def passed(self) -> bool:
        return all(g.status == PASS for g in self.gradients)

    @property
    def score(self) -> float:
        return sum(g.status == PASS for g in self.gradients) / len(self.gradients)

    def to_dict(self) -> dict:
        return {
            "exercise": self.exercise,
            "source": self.source,
            "passed": self.passed,
            "score": self.score,
            "gradients": [g.to_dict() for g in self.gradients],
            "instances": [{"label": i.label, "description": i.describe()} for i in self.instances],
            "errors": [e.to_dict() for e in self.errors],
            "output": self.output,
        }


def check(exercise: Exercise, snippets: tuple[Snippet, ...], source: str = "") -> CheckResult:
    """Grade the learner's code for `exercise` on every one of its instances."""
    runs: list[BlockRun] = []
    comparisons: dict[str, list[Comparison]] = {name: [] for name in exercise.names}
    for instance in exercise.instances:
        run = run_block(snippets, exercise.namespace(instance), exercise.names)
        runs.append(run)
        truth = exercise.truth(instance)
        for name in exercise.names:
            comparisons[name].append(compare(run.values[name], truth[name], instance.rtol, instance.atol))
    errors = tuple(InstanceError(i.label, run.raised) for i, run in zip(exercise.instances, runs) if run.raised)
    gradients = tuple(
        _summarise(g.name, g.hint, tuple(comparisons[g.name]), exercise.instances, runs)
        for g in exercise.gradients
    )
    return CheckResult(exercise.key, source, gradients, exercise.instances, errors, runs[0].output)


def _summarise(name: str, hint: str, comparisons: tuple[Comparison, ...],
               instances: tuple[Instance, ...], runs: list[BlockRun]) -> GradientResult:
    lecture = comparisons[0]
    status, note = lecture.status, lecture.note
    if status == MISSING and runs[0].raised:
        note = f"not computed: your code stopped at {runs[0].raised.where}"
    elif status == PASS:
        status, note = _other_instances(comparisons, instances, runs, note)
    return GradientResult(name, status, lecture.expected_shape, lecture.shape, lecture.exact,
                          lecture.approximate, lecture.maxdiff, note, hint, comparisons)


def _other_instances(comparisons, instances, runs, note) -> tuple[str, str]:
    """A gradient right on the lecture's instance: is it right everywhere else too?"""
    for comparison, instance, run in zip(comparisons[1:], instances[1:], runs[1:]):
        if comparison.status == PASS:
            continue
        if run.raised:
            return FAIL, (f"right on the lecture's instance, but with {instance.describe()} your "
                          f"code raised at {run.raised.where}: {run.raised.exception}")
        if comparison.status == ERROR:
            return ERROR, f"with {instance.describe()}: {comparison.note}"
        lecture_sizes = _same_sizes(instance, instances[0])
        reason = ("right in float32 but wrong in float64 at the lecture's sizes"
                  if lecture_sizes else
                  "right on the lecture's sizes only: does your code hard-code a size "
                  "(32, 64, 27, 30, 10, 3) instead of using n, n_hidden, a tensor's .shape...?")
        detail = comparison.note or f"maxdiff {comparison.maxdiff:.2g}"
        return FAIL, f"{reason} (with {instance.describe()}: {detail})"
    return PASS, note


def _same_sizes(a: Instance, b: Instance) -> bool:
    return (a.n, a.n_hidden, a.n_embd, a.block_size, a.vocab_size) == (
        b.n, b.n_hidden, b.n_embd, b.block_size, b.vocab_size)
