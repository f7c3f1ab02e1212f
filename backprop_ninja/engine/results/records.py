"""The results of a check, as typed records: what the check returns, what `--json` prints, what a
gradebook stores and what a report reads back.

Plain data only (no tensors, no torch), each record with `to_dict()` and `from_dict()`, so that a
result crosses a process boundary or sits in a database as JSON and comes back the same. Statuses
and the engine's kinds of mistake are enums whose values are the strings `--json` shows; a pack's
kinds are those strings themselves (`PackKind`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any

# Bumped when a key changes meaning or goes away; new keys alone do not bump it.
SCHEMA_VERSION = 1


class Status(str, Enum):
    """A gradient's verdict (and, for its own step, `local_status`)."""

    PASS = "pass"
    FAIL = "fail"
    MISSING = "missing"  # not computed (yet)
    ERROR = "error"  # not a tensor of real numbers
    NOT_DEFINED = "not-defined"  # an optional part the submission leaves out (micrograd's relu): not graded

    def __str__(self) -> str:
        return self.value


PASS, FAIL, MISSING, ERROR, NOT_DEFINED = Status.PASS, Status.FAIL, Status.MISSING, Status.ERROR, Status.NOT_DEFINED


class Kind(str, Enum):
    """The kinds of mistake the engine's diagnosis names, and its notes on gradients that are not
    mistakes; a pack names kinds of its own as `PackKind`s."""

    SHAPE = "shape"
    TRANSPOSE = "transpose"
    WRONG_AXIS = "wrong-axis"
    SIGN = "sign"
    SCALE = "scale"
    MISSING_BRANCH = "missing-branch"
    HARD_CODED_SIZE = "hard-coded-size"
    DUPLICATE_INDEX = "duplicate-index"
    AUTOGRAD_USED = "autograd-used"
    RAISED = "raised"
    GRADS_LIST = "grads-list"
    LOCAL = "local"
    SHAPE_NOTE = "shape-note"  # passes: the shape differs from the tensor's by leading 1s only
    INHERITED = "inherited"  # a right step, wrong only because of an earlier gradient

    def __str__(self) -> str:
        return self.value


class PackKind(str):
    """A kind of mistake a pack names itself (micrograd's "order"), by the string `--json` shows, as
    a `Kind` is by its value; a kind a record holds that the engine does not know reads back as one."""

    def __new__(cls, name: str) -> PackKind:
        if name in _ENGINE_KINDS:
            raise ValueError(f"{name!r} is the engine's own kind: use Kind({name!r})")
        return super().__new__(cls, name)

    @property
    def value(self) -> str:
        return str(self)


_ENGINE_KINDS = frozenset(kind.value for kind in Kind)


def kind_named(name: str) -> Kind | PackKind:
    """The kind whose string is `name`: the engine's, or else a pack's."""
    return Kind(name) if name in _ENGINE_KINDS else PackKind(name)


# Kinds that concern the whole submission rather than one step: said once, for all gradients.
WHOLE_SUBMISSION = (Kind.AUTOGRAD_USED, Kind.GRADS_LIST)


class Scoring(str, Enum):
    """How a check's result becomes a score, as the instructor chooses; a full pass is 1 under each."""

    STEPS = "steps"  # the share of gradients whose own step is right: one mistake costs one gradient
    GRADIENTS = "gradients"  # the share of gradients that pass: a mistake costs every gradient after it
    ALL = "all"  # all or nothing

    def __str__(self) -> str:
        return self.value

    def of(self, passed: bool, gradients: float, steps: float) -> float:
        """The score of a result that `passed` or not, whose shares of passing gradients and of right
        steps are `gradients` and `steps`."""
        if passed:
            return 1.0
        return {Scoring.STEPS: steps, Scoring.GRADIENTS: gradients, Scoring.ALL: 0.0}[self]


def whole_percent(score: float) -> int:
    """A score in whole percent, rounded down wherever it is shown or exported: only a full pass is 100."""
    return math.floor(100 * score + 1e-9)


def points(score: float, out_of: float) -> float:
    """A score as points out of `out_of`, rounded down to hundredths, as `whole_percent` rounds."""
    return math.floor(100 * out_of * score + 1e-9) / 100


def _from(cls: Any, d: dict) -> Any:
    """A record from its dict, ignoring keys it does not know (written by a newer version)."""
    return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


def _shape(value: Any) -> tuple[int, ...] | None:
    return None if value is None else tuple(value)


@dataclass(frozen=True)
class NotATensor:
    """What a learner's value was, when it was not a plain tensor (its type's name only): so it
    comes back from a worker."""

    type_name: str


def type_name(value: object) -> str:
    """The name of a value's type, as the learner's code made it."""
    return value.type_name if isinstance(value, NotATensor) else type(value).__name__


@dataclass(frozen=True)
class Comparison:
    """The verdict on one gradient on one instance."""

    status: Status
    expected_shape: tuple[int, ...]
    shape: tuple[int, ...] | None = None
    exact: bool | None = None
    approximate: bool | None = None
    maxdiff: float | None = None
    note: str = ""
    # The shape differs from the tensor's by leading 1s only: fine, and said in a note.
    leading_ones: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Comparison:
        c = _from(cls, d)
        return cls(**{**asdict(c), "status": Status(c.status), "expected_shape": tuple(c.expected_shape),
                      "shape": _shape(c.shape)})


@dataclass(frozen=True)
class Diagnosis:
    kind: Kind | PackKind
    message: str

    def __post_init__(self) -> None:
        if not isinstance(self.kind, (Kind, PackKind)):  # a pack's classifier may name its kind as a plain string
            object.__setattr__(self, "kind", kind_named(self.kind))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> Diagnosis | None:
        return None if d is None else cls(kind_named(d["kind"]), d["message"])


@dataclass(frozen=True)
class RootCause:
    """The first gradient, in backprop order, whose own step is wrong; in exercise 4 it may be one
    the learner wrote on the way (dhprebn) rather than one that is graded (dW1). Where the whole
    submission is at fault (autograd used, a `grads` list at odds), the name is what is at fault."""

    name: str
    diagnosis: Diagnosis
    hint: str
    graded: bool


@dataclass(frozen=True)
class Fix:
    """An edit of the learner's lines that makes a wrong step right on every instance, found by running
    it: the whole lines from `line` on as written and as they would be (a line more where one is added)."""

    gradient: str
    origin: str  # the file or cell the line is in
    line: int
    before: str
    after: str

    @property
    def where(self) -> str:
        return f"{self.origin}, line {self.line}"

    def change(self) -> list[str]:
        """The change as a diff's lines: "- " the line, "+ " what it becomes; a line the fix adds
        after the learner's, which stays as it is, is "+ " after "  " that line."""
        before, after = self.before.splitlines(), self.after.splitlines()
        if len(after) > len(before) and after[:len(before)] == before:  # lines added after the learner's
            return [f"  {line}" for line in before] + [f"+ {line}" for line in after[len(before):]]
        return [f"- {line}" for line in before] + [f"+ {line}" for line in after]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> Fix | None:
        return None if d is None else _from(cls, d)


class Stop(str, Enum):
    """Why the learner's code stopped: set by the grader, never read from the text of a message (a
    learner's own exception may be named anything)."""

    RAISED = "raised"  # an exception of the code's own
    SYNTAX_ERROR = "syntax-error"  # it does not compile
    AUTOGRAD = "autograd"  # it reached autograd, which the worker bars
    PROCESS_ENDED = "process-ended"
    TIME_LIMIT = "time-limit"
    WORKER_ERROR = "worker-error"  # the worker's reply could not be read

    @property
    def words(self) -> str:
        """Why the code stopped, as a report says it beside a score."""
        return {Stop.RAISED: "raised an exception", Stop.SYNTAX_ERROR: "does not parse",
                Stop.AUTOGRAD: "used autograd", Stop.PROCESS_ENDED: "ended its process",
                Stop.TIME_LIMIT: "out of time", Stop.WORKER_ERROR: "worker error"}[self]


@dataclass(frozen=True)
class Raised:
    """Where and how the learner's code stopped, with the shapes of the tensors named on that line."""

    origin: str
    lineno: int | None
    line: str
    exception: str  # shown to the learner: "ValueError: ...", "TimeLimit: still running after 60 s"
    shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    # The gradient that line writes, where the caller knows the exercise's names.
    gradient: str | None = None
    stop: Stop = Stop.RAISED

    # How the worker names what stopped the code, where it was not an exception of the code's own.
    AUTOGRAD_USED = "AutogradUsed"
    PROCESS_ENDED = "ProcessEnded"
    TIME_LIMIT = "TimeLimit"

    @property
    def where(self) -> str:
        return f"{self.origin}, line {self.lineno}" if self.lineno else self.origin

    @property
    def is_syntax_error(self) -> bool:
        return self.stop == Stop.SYNTAX_ERROR

    @property
    def used_autograd(self) -> bool:
        return self.stop == Stop.AUTOGRAD

    @property
    def ended(self) -> bool:
        """Did the code end its process, or outlast its time, rather than raise?"""
        return self.stop in (Stop.PROCESS_ENDED, Stop.TIME_LIMIT)

    def to_dict(self) -> dict:
        return {**asdict(self), "stop": self.stop.value, "where": self.where}

    @classmethod
    def from_dict(cls, d: dict | None) -> Raised | None:
        if d is None:
            return None
        r = _from(cls, d)
        stop = d.get("stop", Stop.RAISED.value)
        return cls(**{**asdict(r), "shapes": tuple((name, tuple(shape)) for name, shape in r.shapes),
                      "stop": Stop(stop) if stop in {s.value for s in Stop} else Stop.RAISED})


@dataclass(frozen=True)
class InstanceError:
    instance: str
    raised: Raised

    def to_dict(self) -> dict:
        return {"instance": self.instance, **self.raised.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> InstanceError:
        raised = Raised.from_dict(d)
        assert raised is not None  # an instance error always has one
        return cls(d["instance"], raised)


@dataclass(frozen=True)
class ErrorMap:
    """Where a wrong gradient is wrong on the lecture's instance: the learner's value minus autograd's,
    as a grid small enough to draw and to store. The first dimension is the rows (a 1-D gradient is
    one row), the others flattened are the columns; where there are more than fit, each cell stands
    for a `block` of rows x columns and keeps its entry of largest magnitude, with its sign."""

    shape: tuple[int, ...]  # the gradient's full shape
    rows: str  # the axes' labels, by the sizes' names: "n (32)", "block_size×n_embd (30)"
    columns: str
    cells: tuple[tuple[float, ...], ...]  # learner - autograd, to 4 significant digits
    block: tuple[int, int]  # entries per cell: rows, columns
    worst: tuple[int, ...]  # the full index of the largest |difference|
    yours: float  # the two values there
    autograd: float

    @property
    def worst_cell(self) -> tuple[int, int]:
        """The cell (row, column) that holds the worst entry."""
        if len(self.shape) == 1:
            return 0, self.worst[0] // self.block[1]
        column = 0
        for index, size in zip(self.worst[1:], self.shape[1:]):  # the index among the flattened columns
            column = column * size + index
        return self.worst[0] // self.block[0], column // self.block[1]

    @property
    def largest(self) -> float:
        """The largest |difference|: what the colour scale runs to, either side of 0."""
        return max(abs(value) for row in self.cells for value in row)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> ErrorMap | None:
        if d is None:
            return None
        m = _from(cls, d)
        return cls(**{**asdict(m), "shape": tuple(m.shape), "cells": tuple(tuple(row) for row in m.cells),
                      "block": tuple(m.block), "worst": tuple(m.worst)})


@dataclass(frozen=True)
class GradientResult:
    """One gradient's verdict over all instances. `exact`, `approximate`, `maxdiff` and `shape` are
    the lecture instance's, as the lecture's `cmp` would print them; `status` is over all."""

    name: str
    status: Status
    expected_shape: tuple[int, ...]
    shape: tuple[int, ...] | None
    exact: bool | None
    approximate: bool | None
    maxdiff: float | None
    note: str
    hint: str
    instances: tuple[Comparison, ...]
    # Is the gradient's own step right, given right inputs? None where the code never wrote it.
    local_status: Status | None = None
    diagnosis: Diagnosis | None = None
    # A gradient never written, where the learner wrote a name that looks like a slip in its name.
    written_as: str | None = None
    # Where it is wrong on the lecture's instance, for a gradient wrong there with the right shape.
    error_map: ErrorMap | None = None

    def to_dict(self) -> dict:
        return {**asdict(self), "instances": [c.to_dict() for c in self.instances],
                "diagnosis": self.diagnosis.to_dict() if self.diagnosis else None,
                "error_map": self.error_map.to_dict() if self.error_map else None}

    @classmethod
    def from_dict(cls, d: dict) -> GradientResult:
        g = _from(cls, d)
        return cls(**{**{f.name: getattr(g, f.name) for f in fields(cls)}, "status": Status(g.status),
                      "expected_shape": tuple(g.expected_shape), "shape": _shape(g.shape),
                      "instances": tuple(Comparison.from_dict(c) for c in g.instances),
                      "local_status": None if g.local_status is None else Status(g.local_status),
                      "diagnosis": Diagnosis.from_dict(d.get("diagnosis")),
                      "error_map": ErrorMap.from_dict(d.get("error_map"))})


@dataclass(frozen=True)
class Convergence:
    """Exercise 4's training with the learner's gradients, next to autograd's twin run."""

    steps: int
    passed: bool
    reason: str
    start_loss: float
    twin_end: float
    learner_end: float | None
    max_gap: float | None
    window: int
    raised: Raised | None = None

    def to_dict(self) -> dict:
        return {**asdict(self), "raised": self.raised.to_dict() if self.raised else None}

    @classmethod
    def from_dict(cls, d: dict | None) -> Convergence | None:
        if d is None:
            return None
        c = _from(cls, d)
        return cls(**{**{f.name: getattr(c, f.name) for f in fields(cls)}, "raised": Raised.from_dict(d.get("raised"))})


@dataclass(frozen=True)
class InstanceInfo:
    """One instance a check ran on, as the report names it."""

    label: str
    description: str


def _own_step_right(g: GradientResult) -> bool:
    """Is the gradient's own step right: diagnosed so (and failing for no mistake of the whole
    submission), or, where no diagnosis ran, passing?"""
    if g.local_status is None:
        return g.status == PASS
    return g.local_status == PASS and not (g.diagnosis and g.diagnosis.kind in WHOLE_SUBMISSION)


@dataclass(frozen=True)
class CheckResult:
    exercise: str
    source: str
    gradients: tuple[GradientResult, ...]
    instances: tuple[InstanceInfo, ...]
    errors: tuple[InstanceError, ...] = ()
    output: str = ""
    convergence: Convergence | None = None  # exercise 4 only
    root: RootCause | None = None
    schema: int = field(default=SCHEMA_VERSION)
    # Where the answer was found in the file ("In [57] `# backward`, found by what it computes"), and
    # what the reading decided that the learner should hear of (a given supplied, a line left out).
    found: str = ""
    notes: tuple[str, ...] = ()
    # The edit that makes the root cause's own step right, where one was searched for (`fix_searched`)
    # and found: a hint, shown only where it is asked for.
    root_fix: Fix | None = None
    fix_searched: bool = False
    # How the answer's code is written: the hashes of its statements' normal form (engine/reading/normal.py),
    # which a class report compares across learners.
    normal_form: tuple[str, ...] = ()

    @property
    def root_cause(self) -> str | None:
        return self.root.name if self.root else None

    @property
    def passed(self) -> bool:
        return self.score == 1.0

    @property
    def score(self) -> float:
        """The share of the parts that pass: every gradient graded, and for exercise 4 the convergence."""
        return self._share([g.status == PASS for g in self.gradients if g.status != NOT_DEFINED])

    @property
    def steps_score(self) -> float:
        """The share of the parts that are right in themselves: every gradient graded whose own step is
        right (inheriting an earlier gradient's error costs it nothing; a mistake of the whole
        submission, autograd used or a grads list at odds, costs every gradient it fails), and for
        exercise 4 the convergence. Short of a full pass, never 1."""
        share = self._share([_own_step_right(g) for g in self.gradients if g.status != NOT_DEFINED])
        parts = sum(g.status != NOT_DEFINED for g in self.gradients) + bool(self.convergence)
        return share if self.passed or share < 1 else (parts - 1) / parts

    def score_by(self, scoring: Scoring) -> float:
        return scoring.of(self.passed, self.score, self.steps_score)

    @property
    def stop(self) -> Stop | None:
        """Why the code did not run to its end on the lecture's instance (out of time, its process
        ended, an exception...), which a report names beside the score; None where it did."""
        lecture = self.instances[0].label if self.instances else None
        return next((e.raised.stop for e in self.errors if e.instance == lecture), None)

    def _share(self, parts: list[bool]) -> float:
        if self.convergence:
            parts.append(self.convergence.passed)
        return sum(parts) / len(parts) if parts else 0.0

    def to_dict(self) -> dict:
        root = self.root
        return {
            "schema": self.schema,
            "exercise": self.exercise,
            "source": self.source,
            "passed": self.passed,
            "score": self.score,
            "scores": {scoring.value: self.score_by(scoring) for scoring in Scoring},
            "root_cause": root.name if root else None,
            "root_diagnosis": root.diagnosis.to_dict() if root else None,
            "root_hint": root.hint if root else None,
            "root_graded": root.graded if root else None,
            "gradients": [g.to_dict() for g in self.gradients],
            "instances": [asdict(i) for i in self.instances],
            "errors": [e.to_dict() for e in self.errors],
            "output": self.output,
            "convergence": self.convergence.to_dict() if self.convergence else None,
            "found": self.found,
            "notes": list(self.notes),
            "normal_form": list(self.normal_form),
            **({"root_fix": self.root_fix.to_dict() if self.root_fix else None} if self.fix_searched else {}),
        }

    @classmethod
    def from_dict(cls, d: dict) -> CheckResult:
        diagnosis = Diagnosis.from_dict(d.get("root_diagnosis"))
        root = (RootCause(d["root_cause"], diagnosis, d.get("root_hint") or "", bool(d.get("root_graded")))
                if d.get("root_cause") is not None and diagnosis is not None else None)
        return cls(d["exercise"], d["source"], tuple(GradientResult.from_dict(g) for g in d["gradients"]),
                   tuple(_from(InstanceInfo, i) for i in d["instances"]),
                   tuple(InstanceError.from_dict(e) for e in d.get("errors", ())), d.get("output", ""),
                   Convergence.from_dict(d.get("convergence")), root, d.get("schema", SCHEMA_VERSION),
                   str(d.get("found") or ""), tuple(str(note) for note in d.get("notes") or ()),
                   root_fix=Fix.from_dict(d.get("root_fix")), fix_searched="root_fix" in d,
                   normal_form=tuple(str(h) for h in d.get("normal_form") or ()))
