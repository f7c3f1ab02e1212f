"""Why a gradient is wrong: which step is the first truly wrong one, and what kind of mistake it is.

The learner's code is run a second way, in which each gradient, once the code has finished writing
it, is recorded and then replaced by the right value before the code goes on. A gradient's *local*
verdict says whether its own step is right given right inputs; the first gradient whose own step is
wrong is the root cause, and those after it that are wrong only because of it inherit its error.
Each kind of mistake is recognised by one small function below, tried in order; a pack's own
(`ForwardExercise.classifiers`, of the same signature) are tried after them.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from itertools import combinations, islice

import torch

from ..exercises.compare import harmless_shape
from ..exercises.exercise import ForwardExercise, Gradient, Instance
from ..isolation.runner import LearnerCode
from ..reading.cells import Snippet
from ..results.records import ERROR, FAIL, MISSING, PASS, Diagnosis, Kind, Raised, RootCause, Status
from .instrument import LearnerSource
from .trials import Trial, namespace, run_trial, truth


@dataclass(frozen=True)
class Evidence:
    """What the classifiers look at for one gradient whose own step is wrong."""

    gradient: Gradient
    value: torch.Tensor  # only a tensor is classified: `diagnose` deals with anything else
    local: Trial  # the checkpointed run: each step from right inputs
    exercise: ForwardExercise
    source: LearnerSource
    retry: Callable[[tuple[Snippet, ...]], bool]  # does the gradient's own step pass with these snippets instead?

    @property
    def instance(self) -> Instance:
        return self.exercise.lecture

    @property
    def truth(self) -> torch.Tensor:
        return truth(self.exercise, self.instance)[self.gradient.name]

    @property
    def namespace(self) -> dict[str, object]:
        return namespace(self.exercise, self.instance)

    def close(self, a: torch.Tensor, b: torch.Tensor, widen: float = 1.0) -> bool:
        """Equal within the lecture instance's tolerance (`widen` times it, to recognise a multiple)."""
        i = self.instance
        return a.shape == b.shape and torch.allclose(a.to(b.dtype), b, rtol=widen * i.rtol, atol=widen * i.atol)


# Variants of a step's reductions the axis classifier runs at most (a few reductions, each a few ways).
MOST_AXIS_VARIANTS = 24


# -- the kinds of mistake, each one small function: a Diagnosis when it recognises its kind ----------

def transpose(ev: Evidence) -> Diagnosis | None:
    """The right answer with two of its dimensions swapped: a matrix's transpose, or (B, C, T) for (B, T, C)."""
    v, t = ev.value, ev.truth
    for i, j in combinations(range(t.dim()), 2):
        swapped = t.transpose(i, j)
        if v.shape == swapped.shape and not ev.close(t, swapped) and ev.close(v.transpose(i, j), t):
            must = f"{ev.gradient.name} must have {ev.gradient.tensor}'s shape {tuple(t.shape)}"
            if t.dim() == 2:
                return Diagnosis(Kind.TRANSPOSE, f"the transpose of the right answer: {must}; swap the operands of "
                                 "the matrix product (and their transposes)")
            how = ("swap the operands of the batched matrix product (and transpose their last two dimensions)"
                   if j == i + 1 == t.dim() - 1 else "a transpose or permute of the wrong dimensions?")
            return Diagnosis(Kind.TRANSPOSE, f"the right answer with dimensions {i} and {j} swapped: {must}; {how}")
    return None


def axis(ev: Evidence) -> Diagnosis | None:
    """Try each variant of the code with one reduction's axis changed, or keepdim added (the first
    MOST_AXIS_VARIANTS: a line of a thousand reductions is not tried a thousand ways)."""
    for kind, description, snippets in islice(ev.source.axis_variants(ev.gradient.name), MOST_AXIS_VARIANTS):
        if ev.retry(snippets):
            return Diagnosis(Kind(kind), description)
    return None


def shape(ev: Evidence) -> Diagnosis | None:
    v, t = ev.value, ev.truth
    if harmless_shape(tuple(v.shape), tuple(t.shape)):
        return None
    expected, got = tuple(t.shape), tuple(v.shape)
    if v.dim() == 0:
        detail = "a scalar: a sum over everything, where the sum belongs over one dimension?"
    elif v.numel() == t.numel():
        detail = f"the right number of entries in the wrong shape: view it as {expected}?"
    elif 1 in expected and got == tuple(d for d in expected if d != 1):
        detail = "the reduced dimension is dropped: keepdim=True?"
    else:
        detail = "broadcasting will not make this right"
    return Diagnosis(Kind.SHAPE, f"wrong shape: expected {expected}, got {got}; {detail}")


def sign(ev: Evidence) -> Diagnosis | None:
    if ev.close(-ev.value, ev.truth):
        return Diagnosis(Kind.SIGN, "the right answer negated: check the sign of the local derivative")
    return None


def scale(ev: Evidence) -> Diagnosis | None:
    """The right answer times a clean factor (n, 1/n, n/(n-1), 2, ..., or one the instance names):
    only such a factor is a recognisable slip; a near-zero answer is not "a tiny multiple" of the
    right one."""
    v, t = ev.value.to(ev.truth.dtype), ev.truth
    norm = (t * t).sum()
    if norm == 0:
        return None
    factor = ((v * t).sum() / norm).item()
    # An instance that does not extend `Instance` (a pack's written before it) names no factors.
    own: dict[str, float] = getattr(ev.instance, "named_factors", dict)()
    named = _name_factor(factor, ev.instance.n, next(iter(ev.instance.named_sizes())), own)
    if named is None or not ev.close(v, factor * t, widen=10):
        return None
    return Diagnosis(Kind.SCALE, f"the right answer times {named}")


def _name_factor(factor: float, n: int, name: str, own: Mapping[str, float]) -> str | None:
    """The factor by the sizes it is made of ("n (32)", "n/(n-1) (1.032)", "2"), if it is a clean one;
    `name` is what the problem calls n. A factor the problem names itself (`own`: "head_size**-0.5
    (0.25)"), or its inverse, goes by that name first: it says more than a number that happens to match."""
    by_n = {"n": n, "1/n": 1 / n, "n**2": n**2, "1/n**2": 1 / n**2, "n-1": n - 1, "1/(n-1)": 1 / (n - 1),
            "n/(n-1)": n / (n - 1), "(n-1)/n": (n - 1) / n}
    by_n = {label.replace("n", name): value for label, value in by_n.items()}
    inverses = {f"1/{label}" if label.isidentifier() else f"1/({label})": 1 / value
                for label, value in own.items() if value}
    plain = {"2": 2, "1/2": 0.5, "4": 4, "1/4": 0.25}
    for sign in ("", "-"):
        for label, value in {**own, **inverses, **by_n, **plain}.items():
            value = -value if sign else value
            if abs(factor - value) <= 1e-4 * abs(value):
                return sign + (label if label in plain else f"{label} ({value:.4g})")
    return None


def missing_branch(ev: Evidence) -> Diagnosis | None:
    tensor = ev.gradient.tensor
    consumers = ev.exercise.consumers(tensor)
    if len(consumers) < 2:
        return None
    branches = ev.exercise.branches(ev.instance, tensor)
    for consumer, part in branches.items():
        if ev.close(ev.value, ev.truth - part):
            others = " and ".join(c for c in consumers if c != consumer)
            overwrite = ev.source.overwrite(ev.gradient.name)
            how = (f"line {overwrite[0]} writes {ev.gradient.name} with `=`, which throws away what line "
                   f"{overwrite[1]} put there" if overwrite else f"{tensor} is used in {others} and in {consumer}")
            return Diagnosis(Kind.MISSING_BRANCH, f"the contribution through {consumer} is missing: {how}; the "
                             "gradients from every use add up (+=)")
    return None


def duplicate_index(ev: Evidence) -> Diagnosis | None:
    if ev.gradient.indexed_by is None:
        return None
    index = ev.namespace[ev.gradient.indexed_by]
    assert isinstance(index, torch.Tensor)  # the batch we built: no learner code runs in this namespace
    index = index.reshape(-1)
    counts = torch.bincount(index, minlength=ev.truth.shape[0])
    v, t = ev.value.to(ev.truth.dtype), ev.truth
    once, again = counts == 1, counts > 1
    if not (again.any() and ev.close(v[once], t[once]) and not ev.close(v[again], t[again])):
        return None
    name, table, index_name = ev.gradient.name, ev.gradient.tensor, ev.gradient.indexed_by
    writes = ev.source.indexed_writes(name)
    line, code, op, in_loop = writes[-1] if writes else (None, "", "+=", False)
    at = f" (line {line}, `{code}`)" if line else ""
    if op == "=" and in_loop:
        what = f"`=` in a loop{at} keeps only the last contribution for each row: use +="
    else:
        what = (f"an indexed `{op}` over all of {index_name} at once{at} keeps one contribution per row; "
                "accumulate every occurrence (a loop with +=, or index_add_)")
    return Diagnosis(Kind.DUPLICATE_INDEX, f"right for rows of {table} picked once in {index_name}, wrong for rows "
                     f"picked more than once: {what}")


def lecture_only(trial: Trial, name: str, lecture: Instance) -> tuple[Instance, bool] | None:
    """The one judgement of a gradient right on the lecture's instance but wrong on another: that
    instance, and whether it changes a size (rather than only the precision) of the lecture's."""
    if trial.on_lecture(name).status != PASS:
        return None
    failing = trial.first_failing_elsewhere(name)
    return None if failing is None else (failing, failing.named_sizes() != lecture.named_sizes())


def hard_coded_size(ev: Evidence) -> Diagnosis | None:
    judged = lecture_only(ev.local, ev.gradient.name, ev.instance)
    if judged is None or not judged[1]:
        return None
    failing = judged[0]
    sizes, elsewhere = ev.instance.named_sizes(), failing.named_sizes()
    changed = {label: value for label, value in sizes.items() if elsewhere[label] != value}
    found = []
    for line, literal in ev.source.literals(ev.gradient.name):
        for label, value in changed.items():
            if literal == value or (literal and abs(literal - 1 / value) < 1e-9):
                name = label if literal == value else f"1/({label})" if " " in label or "-" in label else f"1/{label}"
                found.append(f"{literal!r} on line {line} (use {name})")
                break
    where = "; ".join(found) if found else \
        f"a size written as a number ({', '.join(map(str, dict.fromkeys(changed.values())))})?"
    return Diagnosis(Kind.HARD_CODED_SIZE, f"right on the lecture's sizes only, wrong with {failing.describe()}: "
                     f"{where}")


# Kinds that compare values of the right shape; then those that can explain a wrong shape. `axis`
# reruns the code, so it comes late, but before `shape`, which names whatever shape mistake is left.
# A pack's own classifiers come after all of these.
SAME_SHAPE = (sign, scale, missing_branch, duplicate_index)
ANY_SHAPE = (transpose, axis, shape)


def classify(ev: Evidence) -> Diagnosis:
    """The first kind that recognises the mistake in a gradient whose own step is wrong (and whose
    value is a tensor of real numbers: `diagnose` deals with anything else): the engine's, then the pack's."""
    first = ev.local.on_lecture(ev.gradient.name)
    if first.leading_ones:
        ev = replace(ev, value=ev.value.reshape(ev.truth.shape))  # the harmless (64,) for (1, 64)
    if first.status == PASS:
        return hard_coded_size(ev) or Diagnosis(
            Kind.LOCAL, "right on the lecture's instance in float32, wrong at the same sizes in float64: "
            "a step that loses precision, or depends on float32's rounding?")
    for recognise in (SAME_SHAPE if ev.value.shape == ev.truth.shape else ()) + ANY_SHAPE + ev.exercise.classifiers:
        if diagnosis := recognise(ev):
            return diagnosis
    how = f"maxdiff {first.maxdiff:.2g}" if first.maxdiff is not None else first.note
    return Diagnosis(Kind.LOCAL, f"wrong even from right inputs ({how} on the lecture's instance): look at "
                     "this step's local derivative")


def raised(raised_error: Raised) -> Diagnosis:
    shapes = ", ".join(f"{name} {shape}" for name, shape in raised_error.shapes)
    line = f" `{raised_error.line}`" if raised_error.line else ""
    return Diagnosis(Kind.RAISED, f"{raised_error.where}{line} raised {raised_error.exception}"
                     + (f" (shapes: {shapes})" if shapes else ""))


AUTOGRAD_HINT = ("write each gradient from the forward pass's tensors and the local derivative of each "
                 "step, with no .grad and no backward(): the check compares your answers with autograd "
                 "for you.")


def autograd_used(source: LearnerSource, plain: Trial
                  ) -> tuple[dict[str, tuple[Status | None, Diagnosis | None]], RootCause] | None:
    """The one autograd verdict: where the code calls into autograd, by reading it or by having
    been stopped doing so in its worker, every gradient fails, right numbers or not; said once."""
    uses = source.autograd_uses()
    lineno: int | None
    stopped = next((run.raised for run in plain.runs if run.raised and run.raised.used_autograd), None)
    if uses:
        origin, line, what = uses[0]
        where, lineno = f"{origin}, line {line} reaches for autograd ({what})", line
    elif stopped:
        where, lineno = f"{stopped.where} calls into autograd", stopped.lineno
    else:
        return None
    names = source.names
    culprit = next((n for n in names if any(lineno in st.lines for st in source.writes[n])), "autograd")
    root = RootCause(culprit, Diagnosis(Kind.AUTOGRAD_USED, f"{where}: the backward pass must be written by hand, "
                                        "so every gradient fails, right numbers or not"), AUTOGRAD_HINT, graded=True)
    others = Diagnosis(Kind.AUTOGRAD_USED, f"fails with every other gradient: {where}")
    return {name: (FAIL, root.diagnosis if name == culprit else others) for name in names}, root


def diagnose(exercise: ForwardExercise, code: LearnerCode, source: LearnerSource, plain: Trial
             ) -> tuple[dict[str, tuple[Status | None, Diagnosis | None]], RootCause | None]:
    """Each followed gradient's local status and diagnosis, and the root cause: the first gradient, in
    backprop order, whose own step is wrong."""
    names = tuple(g.name for g in exercise.followed)
    autograd = autograd_used(source, plain)
    if autograd:
        return autograd

    checkpoints = source.checkpoints()
    local = run_trial(exercise, code, names, checkpoints)

    def passes(snippets: tuple[Snippet, ...], name: str) -> bool:
        """Does `name`'s own step pass on the lecture's instance when these snippets run instead?
        (Variants keep every line where it was, so the checkpoints still hold.)"""
        retried = run_trial(exercise, code.variant(snippets), (name,), checkpoints, (exercise.lecture,))
        return retried.on_lecture(name).status == PASS

    raised_error = local.lecture_run.raised
    raised_gradient = None
    if raised_error:
        statement = source.statement_at(raised_error.origin, raised_error.lineno)
        raised_gradient = source.gradient_written_at(statement) or next(
            (n for n in names if local.on_lecture(n).status == MISSING), None)

    verdicts: dict[str, tuple[Status | None, Diagnosis | None]] = {}
    first_wrong = last_wrong = None
    for g in exercise.followed:
        status = local.status(g.name)
        diagnosis: Diagnosis | None
        if raised_error and g.name == raised_gradient:  # (raised_gradient is only ever set with raised_error)
            status, diagnosis = FAIL, raised(raised_error)
        elif status == FAIL:
            value, first = local.lecture_run.finished.get(g.name), local.on_lecture(g.name)
            # Not a tensor of real numbers (which compares as ERROR): nothing more to recognise.
            if first.status == ERROR or not isinstance(value, torch.Tensor):
                diagnosis = Diagnosis(Kind.LOCAL, f"{g.name} {first.note}")
            else:
                diagnosis = classify(Evidence(g, value, local, exercise, source, partial(passes, name=g.name)))
        elif g.name in plain.comparisons and plain.status(g.name) == FAIL:
            diagnosis = (Diagnosis(Kind.INHERITED, f"inherits the error in {last_wrong}") if last_wrong else
                         Diagnosis(Kind.LOCAL, "right when your code finished it, wrong at the end: a later "
                                   "in-place change to a tensor it shares memory with? (use .clone())"))
        else:
            first = local.on_lecture(g.name)
            diagnosis = Diagnosis(Kind.SHAPE_NOTE, first.note) if status == PASS and first.leading_ones else None
        if status == FAIL:
            first_wrong = first_wrong or g.name
            last_wrong = g.name
        verdicts[g.name] = (status, diagnosis)
    if first_wrong is None:
        return verdicts, None
    step = next(g for g in exercise.followed if g.name == first_wrong)
    diagnosis = verdicts[first_wrong][1]
    assert diagnosis is not None  # the two branches above that fail a gradient both diagnose it
    return verdicts, RootCause(first_wrong, diagnosis, step.hint, graded=first_wrong in exercise.names)
