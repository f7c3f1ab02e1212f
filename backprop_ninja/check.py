"""Checking an exercise: run the learner's code on every instance, compare what it left with
autograd's gradients, and sum the comparisons up into one result per gradient.

Running and comparing are kept apart: the learner's code only ever sees its own namespace, and the
truth is computed here, after it has finished. Where anything is wrong, the diagnosis says why.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import torch

from .compare import ERROR, FAIL, MISSING, PASS, Comparison, compare
from .convergence import DEFAULT_STEPS, Convergence, check_convergence
from .diagnosis import Diagnosis, RootCause, diagnose
from .exercises import GRADS_HINT, Exercise, TrainingExercise
from .instrument import LearnerSource, written_on_line
from .model import Instance
from .runner import BlockRun, LearnerCode, Raised, Session
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
    # Is the gradient's own step right, given right inputs? None where the code never wrote it.
    local_status: str | None = None
    diagnosis: Diagnosis | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["instances"] = [asdict(c) for c in self.instances]
        d["diagnosis"] = self.diagnosis.to_dict() if self.diagnosis else None
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
    convergence: Convergence | None = None  # exercise 4 only
    root: RootCause | None = None

    @property
    def root_cause(self) -> str | None:
        return self.root.name if self.root else None

    @property
    def passed(self) -> bool:
        return self.score == 1.0

    @property
    def score(self) -> float:
        """The share of the parts that pass: every gradient, and for exercise 4 the convergence."""
        parts = [g.status == PASS for g in self.gradients]
        if self.convergence:
            parts.append(self.convergence.passed)
        return sum(parts) / len(parts)

    def to_dict(self) -> dict:
        return {
            "exercise": self.exercise,
            "source": self.source,
            "passed": self.passed,
            "score": self.score,
            "root_cause": self.root_cause,
            "root_diagnosis": self.root.diagnosis.to_dict() if self.root else None,
            "gradients": [g.to_dict() for g in self.gradients],
            "instances": [{"label": i.label, "description": i.describe()} for i in self.instances],
            "errors": [e.to_dict() for e in self.errors],
            "output": self.output,
            "convergence": self.convergence.to_dict() if self.convergence else None,
        }


def check(exercise: Exercise, snippets: tuple[Snippet, ...], source: str = "", steps: int = DEFAULT_STEPS,
          progress: Callable[[int, float], None] | None = None, timeout: float | None = None) -> CheckResult:
    """Grade the learner's code for `exercise` on every one of its instances; for exercise 4, then
    train with it for `steps` steps next to autograd (`progress(step, loss)` follows that run). The
    code runs in a worker process, for `timeout` seconds in all (by default the exercise's limit)."""
    with Session(timeout or exercise.time_limit(steps)) as session:
        code = LearnerCode(snippets, session)
        runs: list[BlockRun] = []
        truths: list[dict[str, torch.Tensor]] = []
        comparisons: dict[str, list[Comparison]] = {name: [] for name in exercise.names}
        for instance in exercise.instances:
            run = code.run(exercise.namespace(instance), exercise.collected)
            runs.append(run)
            values = exercise.gradients_from(run.values)
            truths.append(exercise.truth(instance))
            for name in exercise.names:
                comparisons[name].append(compare(values[name], truths[-1][name], instance.rtol, instance.atol))
        followed = tuple(g.name for g in exercise.followed)
        errors = tuple(InstanceError(i.label, replace(run.raised, gradient=written_on_line(run.raised.line, followed)))
                       for i, run in zip(exercise.instances, runs) if run.raised)
        gradients = tuple(
            _summarise(g.name, g.hint, tuple(comparisons[g.name]), exercise.instances, runs)
            for g in exercise.gradients
        )
        # Training comes before the diagnosis, which hands the worker right values to go on from.
        convergence = (check_convergence(exercise, code, steps, progress=progress)
                       if isinstance(exercise, TrainingExercise) else None)
        gradients, root = _diagnosed(exercise, code, snippets, gradients, truths, tuple(runs))
    gradients, root = _with_disagreements(exercise.disagreements(runs[0].values), gradients, root)
    return CheckResult(exercise.key, source, gradients, exercise.instances, errors, runs[0].output, convergence,
                       root)


def _diagnosed(exercise, code, snippets, gradients, truths, runs):
    """The gradients with their local verdicts and diagnoses. A passing submission costs no more than
    reading its code for autograd; anything else is run a second, local, way."""
    if code.syntax_error or code.session.stopped:  # nothing to diagnose, only the line to fix
        return gradients, None
    source = LearnerSource(snippets, tuple(g.name for g in exercise.followed))
    wrong = any(g.status in (FAIL, ERROR) for g in gradients) or any(run.raised for run in runs)
    if not wrong and not source.autograd_uses():
        return tuple(replace(g, local_status=PASS if g.status == PASS else None,
                             diagnosis=Diagnosis("shape-note", g.note) if "leading 1s" in g.note else None)
                     for g in gradients), None
    verdicts, root = diagnose(exercise, code, source, {g.name: g.status for g in gradients}, truths, runs)
    if code.session.stopped:  # out of time while diagnosing: the plain verdicts stand alone
        return gradients, None
    diagnosed = []
    for g in gradients:
        local_status, diagnosis = verdicts[g.name]
        if diagnosis and diagnosis.kind == "autograd-used":
            g = replace(g, status=FAIL, note=diagnosis.message)
        diagnosed.append(replace(g, local_status=local_status, diagnosis=diagnosis))
    return tuple(diagnosed), root


def _with_disagreements(disagreements: dict[str, str], gradients: tuple[GradientResult, ...],
                        root: RootCause | None) -> tuple[tuple[GradientResult, ...], RootCause | None]:
    """Gradients the code answers twice, differently (exercise 4's `grads` list against the named
    gradients), fail: only one of the answers would train. A wrong step earlier stays the root."""
    if not disagreements:
        return gradients, root
    failed = tuple(replace(g, status=FAIL, note=disagreements[g.name],
                           diagnosis=Diagnosis("grads-list", disagreements[g.name]))
                   if g.name in disagreements else g for g in gradients)
    summary = Diagnosis("grads-list", "the grads list, which is what trains, disagrees with your named "
                        "gradients: " + "; ".join(disagreements.values()))
    return failed, root or RootCause("grads", summary, GRADS_HINT, graded=True)


def _summarise(name: str, hint: str, comparisons: tuple[Comparison, ...],
               instances: tuple[Instance, ...], runs: list[BlockRun]) -> GradientResult:
    lecture = comparisons[0]
    status, note = lecture.status, lecture.note
    if status == MISSING and runs[0].raised:
        stopped = "does not parse" if runs[0].raised.is_syntax_error else "stopped"
        note = f"not computed: your code {stopped} at {runs[0].raised.where}"
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
        reason = ("right in float32 but wrong in float64 at the lecture's sizes"
                  if instance.sizes == instances[0].sizes else
                  "right on the lecture's sizes only: does your code hard-code a size "
                  "(32, 64, 27, 30, 10, 3) instead of using n, n_hidden, a tensor's .shape...?")
        detail = comparison.note or f"maxdiff {comparison.maxdiff:.2g}"
        return FAIL, f"{reason} (with {instance.describe()}: {detail})"
    return PASS, note

