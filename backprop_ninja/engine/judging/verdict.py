"""The verdict on a submission's answer to an exercise: run the learner's code on every instance,
compare what it left with autograd's gradients, sum the comparisons up into one result per
gradient, train with them where the exercise trains, and, where anything is wrong, diagnose why.

Running and comparing are kept apart: the learner's code only ever sees its own namespace, and the
truth is computed here, after it has finished. Every command that checks (`ninja check`, `grade`,
the in-notebook check, a pack's validation) comes here.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from ..exercises.exercise import Exercise, ForwardExercise
from ..isolation.runner import LearnerCode, Session
from ..reading.answers import Submission
from ..reading.cells import Snippet
from ..reading.normal import normal_form
from ..reading.syntax import written_on_line
from ..results.records import (ERROR, FAIL, MISSING, PASS, WHOLE_SUBMISSION, CheckResult, Convergence, Diagnosis,
                               Fix, GradientResult, InstanceError, InstanceInfo, Kind, RootCause)
from .convergence import DEFAULT_STEPS, check_convergence
from .diagnosis import diagnose, lecture_only
from .instrument import LearnerSource
from .picture import error_map
from .repair import search
from .trials import DiagnosesItself, Trial, run_trial, truth


# Gradients whose error map a result keeps, at most.
MOST_PICTURES = 6


def check(exercise: Exercise, snippets: tuple[Snippet, ...], source: str = "", steps: int = DEFAULT_STEPS,
          progress: Callable[[int, float], None] | None = None, timeout: float | None = None,
          reading: Submission | None = None, fix: bool = False) -> CheckResult:
    """Grade the learner's code for `exercise` on every one of its instances; for exercise 4, then
    train with it for `steps` steps next to autograd (`progress(step, loss)` follows that run). The
    code runs in a worker process, for `timeout` seconds in all (by default the exercise's limit):
    run (there) -> compare -> diagnose -> result (here). `reading` is how the code was found in its
    file, which the result tells too. With `fix`, an edit of the learner's lines that makes the root
    cause's step right is searched for too (the result's `root_fix`)."""
    return _result(_scored(exercise, snippets, steps, progress, timeout), source, reading, fix)


def check_each(answered: Sequence[tuple[Exercise, Submission]], source: str, steps: int = DEFAULT_STEPS,
               timeout: float | None = None, fix: bool = False) -> tuple[CheckResult, ...]:
    """Every exercise one file answers, as `check` would, with all of their scored runs done before
    any diagnosis runs: a diagnosis hands the code right values, and no run that scores it may come
    after one."""
    scored: list[_Scored] = []
    try:
        for exercise, submission in answered:
            scored.append(_scored(exercise, submission.snippets, steps, None, timeout))
        return tuple(_result(s, source, submission, fix) for s, (_, submission) in zip(scored, answered))
    finally:
        for s in scored:
            s.code.session.close()


@dataclass(frozen=True)
class _Scored:
    """An exercise's scored runs, done: what its diagnosis and its result start from."""

    exercise: Exercise
    code: LearnerCode
    plain: Trial
    gradients: tuple[GradientResult, ...]
    convergence: Convergence | None


def _scored(exercise: Exercise, snippets: tuple[Snippet, ...], steps: int,
            progress: Callable[[int, float], None] | None, timeout: float | None) -> _Scored:
    session = Session(timeout or exercise.time_limit(steps))
    try:
        code = LearnerCode(exercise.program(snippets), session)
        plain = run_trial(exercise, code, exercise.names)
        gradients = tuple(_summarise(g.name, g.hint, plain, exercise) for g in exercise.gradients)
        # Training comes before the diagnosis, which hands the worker right values to go on from.
        convergence = (check_convergence(exercise, code, steps, progress=progress)
                       if isinstance(exercise, ForwardExercise) and exercise.training else None)
    finally:
        session.close()  # a diagnosis, if any, runs in a fresh worker
    return _Scored(exercise, code, plain, gradients, convergence)


def _result(scored: _Scored, source: str, reading: Submission | None, fix: bool) -> CheckResult:
    """The scored runs' result, diagnosed where anything is wrong (with `fix`, and a fix searched for)."""
    exercise, plain = scored.exercise, scored.plain
    try:
        gradients, root = _diagnosed(exercise, scored.code, scored.gradients, plain)
        root_fix = _fix(exercise, scored.code, root) if fix else None
    finally:
        scored.code.session.close()
    gradients, root = _with_disagreements(exercise, exercise.disagreements(plain.lecture_run.values), gradients, root)
    gradients = _pictured(gradients, root)
    followed = tuple(g.name for g in exercise.followed)
    errors = tuple(InstanceError(i.label, replace(run.raised, gradient=written_on_line(run.raised.line, followed)))
                   for i, run in zip(plain.instances, plain.runs) if run.raised)
    if reading:
        gradients = tuple(replace(g, written_as=reading.misspelled.get(g.name)) if g.status == MISSING else g
                          for g in gradients)
    return CheckResult(exercise.key, source, gradients,
                       tuple(InstanceInfo(i.label, i.describe()) for i in plain.instances),
                       errors, plain.lecture_run.output, scored.convergence, root,
                       found=reading.found if reading else "",
                       notes=(reading.notes if reading else ()) + exercise.remarks(plain.lecture_run.values),
                       root_fix=root_fix, fix_searched=fix, normal_form=_normal_form(exercise, scored.code.snippets))


def _normal_form(exercise: Exercise, snippets: tuple[Snippet, ...]) -> tuple[str, ...]:
    """How the learner's code is written, for comparing it across a class: the exercise's own code that
    runs after it (micrograd's probes) left out, and every name the exercise gives or grades kept."""
    given = (exercise.provided | set(exercise.collected) | set(exercise.written)
             | {g.name for g in exercise.followed})
    own = exercise.program(())
    return normal_form(tuple(s for s in snippets if s not in own), given)


def _diagnosed(exercise: Exercise, code: LearnerCode, gradients: tuple[GradientResult, ...],
               plain: Trial) -> tuple[tuple[GradientResult, ...], RootCause | None]:
    """The gradients with their local verdicts and diagnoses. A passing submission costs no more than
    reading its code for autograd; anything else is run a second, local, way."""
    if code.syntax_error or code.session.stopped:  # nothing to diagnose, only the line to fix
        return gradients, None
    if isinstance(exercise, DiagnosesItself):
        verdicts, root = exercise.diagnose(plain)
        return tuple(replace(g, local_status=verdicts[g.name][0], diagnosis=verdicts[g.name][1])
                     for g in gradients), root
    assert isinstance(exercise, ForwardExercise)  # every other kind of exercise diagnoses itself
    source = LearnerSource(code.snippets, tuple(g.name for g in exercise.followed))
    wrong = any(g.status in (FAIL, ERROR) for g in gradients) or any(run.raised for run in plain.runs)
    if not wrong and not source.autograd_uses():
        return tuple(replace(g, local_status=PASS if g.status == PASS else None,
                             diagnosis=Diagnosis(Kind.SHAPE_NOTE, g.note) if plain.on_lecture(g.name).leading_ones
                             else None) for g in gradients), None
    verdicts, root = diagnose(exercise, code, source, plain)
    if code.session.stopped:  # out of time while diagnosing: the plain verdicts stand alone
        return gradients, None
    diagnosed = []
    for g in gradients:
        local_status, diagnosis = verdicts[g.name]
        if diagnosis and diagnosis.kind == Kind.AUTOGRAD_USED:
            g = replace(g, status=FAIL, note=diagnosis.message)
        diagnosed.append(replace(g, local_status=local_status, diagnosis=diagnosis))
    return tuple(diagnosed), root


def _pictured(gradients: tuple[GradientResult, ...], root: RootCause | None) -> tuple[GradientResult, ...]:
    """The gradients with the maps of where they are wrong kept for the root cause and the first
    others only: as many as a reader takes in, and a result that stays small."""
    kept = [g.name for g in gradients if g.error_map and g.name == (root.name if root else None)]
    kept += [g.name for g in gradients if g.error_map and g.name not in kept][: MOST_PICTURES - len(kept)]
    return tuple(g if g.name in kept or g.error_map is None else replace(g, error_map=None) for g in gradients)


def _fix(exercise: Exercise, code: LearnerCode, root: RootCause | None) -> Fix | None:
    """The edit that makes the root cause's own step right, where it is one step (not the whole
    submission's mistake) and the code is still running."""
    if root is None or root.diagnosis.kind in WHOLE_SUBMISSION or code.session.stopped:
        return None
    return search(exercise, code.snippets, root)


def _with_disagreements(exercise: Exercise, disagreements: dict[str, str], gradients: tuple[GradientResult, ...],
                        root: RootCause | None) -> tuple[tuple[GradientResult, ...], RootCause | None]:
    """Gradients the code answers twice, differently (exercise 4's `grads` list against the named
    gradients), fail: only one of the answers would train. A wrong step earlier stays the root."""
    if not disagreements:
        return gradients, root
    failed = tuple(replace(g, status=FAIL, note=disagreements[g.name],
                           diagnosis=Diagnosis(Kind.GRADS_LIST, disagreements[g.name]))
                   if g.name in disagreements else g for g in gradients)
    summary = Diagnosis(Kind.GRADS_LIST, "the grads list, which is what trains, disagrees with your named "
                        "gradients: " + "; ".join(disagreements.values()))
    return failed, root or RootCause("grads", summary, exercise.DISAGREEMENT_HINT, graded=True)


def _summarise(name: str, hint: str, plain: Trial, exercise: Exercise) -> GradientResult:
    """One gradient over all instances, shown as the lecture's `cmp` shows it on the lecture's."""
    lecture, run = plain.on_lecture(name), plain.lecture_run
    status, note = lecture.status, lecture.note
    if status == MISSING and run.raised:
        stopped = "does not parse" if run.raised.is_syntax_error else "stopped"
        note = f"not computed: your code {stopped} at {run.raised.where}"
    elif judged := lecture_only(plain, name, exercise.lecture):
        failing, sizes_changed = judged
        comparison, failing_run = next((c, r) for i, c, r in plain.elsewhere(name) if i == failing)
        if failing_run.raised:
            detail = f"your code raised at {failing_run.raised.where}: {failing_run.raised.exception}"
        else:
            detail = comparison.note or f"maxdiff {comparison.maxdiff:.2g}"
        status = ERROR if comparison.status == ERROR else FAIL
        note = (f"right on the lecture's instance, but not with {failing.describe()}"
                f"{'' if sizes_changed else ' (float64 at the same sizes)'}: {detail}")
    # Where it is wrong, drawn for a gradient wrong on the lecture's instance itself.
    picture = (error_map(exercise.gradients_from(run.values).get(name), truth(exercise, exercise.lecture)[name],
                         exercise.lecture) if lecture.status == FAIL else None)
    return GradientResult(name, status, lecture.expected_shape, lecture.shape, lecture.exact,
                          lecture.approximate, lecture.maxdiff, note, hint, plain.comparisons[name],
                          error_map=picture)
