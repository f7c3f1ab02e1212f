"""`ninja check-exercise`: a pack held to what it declares. Each exercise's reference passes on every
instance; each known-wrong solution fails with its declared root cause and kind; every gradient is
the gradient of a tensor on the loss's graph; the stubs render, and the untouched one fails cleanly;
a training stage's run with the reference tracks autograd's twin.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..engine.exercises.exercise import Exercise, ForwardExercise
from ..engine.exercises.registry import Pack, with_references
from ..engine.reading.cells import Snippet
from ..engine.results.records import MISSING, PASS
from . import check
from .stubs import render_ipynb, render_py


@dataclass(frozen=True)
class Finding:
    subject: str  # what was tried: "bigram: reference", "bigram: mistake 'the mean forgotten'"
    ok: bool
    detail: str


# A training stage's run when validating: long enough for a reference to show it tracks autograd's
# twin (its mistakes fail their gradients before that); `ninja check` trains for 2000.
VALIDATION_STEPS = 200


def _run(exercise: Exercise, source: str, origin: str):
    return check(exercise, (Snippet(source, origin),), steps=VALIDATION_STEPS)


def _on_the_graph(exercise: Exercise) -> Finding:
    """Every followed gradient is one autograd gives for a tensor (or leaf) the loss depends on (or,
    for an exercise that is not about a forward pass, one its truth gives)."""
    if isinstance(exercise, ForwardExercise):
        leaves, _ = exercise.setting(exercise.lecture)
        tensors = set(exercise.forward.tensors) | set(leaves)
        unknown = [g.name for g in exercise.followed if g.tensor not in tensors]
        if unknown:
            return Finding(f"{exercise.key}: gradients", False, f"{', '.join(unknown)}: no such tensor in the "
                           "forward pass or among its leaves")
    try:
        missing = set(exercise.names) - set(exercise.truth(exercise.lecture))
    except (AssertionError, RuntimeError) as e:
        return Finding(f"{exercise.key}: gradients", False,
                       f"some gradient is not of a tensor on the loss's graph ({e})")
    if missing:
        return Finding(f"{exercise.key}: gradients", False, f"its truth gives no {', '.join(sorted(missing))}")
    return Finding(f"{exercise.key}: gradients", True, f"{len(exercise.followed)} gradients, each of a tensor on "
                   "the loss's graph")


def _stub(exercise: Exercise) -> Finding:
    try:
        stub, _ = render_py(exercise), render_ipynb(exercise)
    except Exception as e:  # the pack's own definitions: whatever breaks the rendering, say it
        return Finding(f"{exercise.key}: stub", False, f"does not render ({type(e).__name__}: {e})")
    result = _run(exercise, stub, f"{exercise.key}.py (untouched stub)")
    clean = not result.passed and not result.errors and all(g.status == MISSING for g in result.gradients)
    return Finding(f"{exercise.key}: stub", clean, "renders; untouched, it fails with every gradient not computed"
                   if clean else "the untouched stub does not fail cleanly (every gradient not computed)")


def validate(pack: Pack) -> list[Finding]:
    """Raises PackError where the worked solutions the pack names in its `reference_files` are not there."""
    pack = with_references(pack)
    findings = []
    judged = {}  # the exercises whose gradients can be judged at all
    for exercise in pack.exercises:
        findings.append(_on_the_graph(exercise))
        if not findings[-1].ok:
            continue
        judged[exercise.key] = exercise
        findings.append(_stub(exercise))
        reference = pack.references.get(exercise.key)
        if reference is None:
            findings.append(Finding(f"{exercise.key}: reference", False,
                                    "none given (Pack.references or Pack.reference_files)"))
            continue
        result = _run(exercise, reference, f"{exercise.key} reference")
        failing = [g.name for g in result.gradients if g.status != PASS]
        findings.append(Finding(f"{exercise.key}: reference", result.passed,
                                f"passes on all {len(exercise.instances)} instances" if result.passed else
                                f"fails: {', '.join(failing) or 'its convergence'}"))
    keys = {e.key for e in pack.exercises}
    for mistake in pack.mistakes:
        subject = f"{mistake.exercise}: mistake {mistake.name!r}"
        if mistake.exercise not in judged:
            findings.append(Finding(subject, False, f"no exercise {mistake.exercise!r} in the pack" if
                                    mistake.exercise not in keys else "not tried: its exercise's gradients are wrong"))
            continue
        if mistake.source == pack.references.get(mistake.exercise):
            findings.append(Finding(subject, False, "the same code as the reference: is a replacement missing?"))
            continue
        result = _run(judged[mistake.exercise], mistake.source, subject)
        got = (result.root.name, result.root.diagnosis.kind.value) if result.root else None
        wanted = (mistake.root_cause, mistake.kind)
        said = result.root.diagnosis.message if result.root else ""
        if got != wanted:
            findings.append(Finding(subject, False, f"declared {wanted[0]} ({wanted[1]}), got " + (
                f"{got[0]} ({got[1]})" if got else "a pass" if result.passed else "no root cause")))
        elif mistake.says not in said:
            findings.append(Finding(subject, False, f"{wanted[0]} ({wanted[1]}), as declared, but its message does "
                                    f"not say {mistake.says!r}: {said}"))
        else:
            findings.append(Finding(subject, True, f"{mistake.root_cause} ({mistake.kind}), as declared"))
    return findings
