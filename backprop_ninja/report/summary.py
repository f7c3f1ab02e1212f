"""The report's tables, computed from a gradebook snapshot: plain data, ready for any format."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from ..engine.results.gradebook import GradeRow, Snapshot, read_snapshot
from ..engine.results.records import Kind

# Bumped when a key of `Report.to_dict()` changes meaning or goes away (see the README).
SCHEMA_VERSION = 1
MOST_COMMON_KINDS = 3
# Notes of the diagnosis that are not mistakes of the gradient's own step.
_NOT_MISTAKES = {Kind.INHERITED.value, Kind.SHAPE_NOTE.value}


@dataclass(frozen=True)
class Standing:
    """A learner on one exercise: their best score, over how many attempts, and whether it passed."""

    best: float
    attempts: int
    passed: bool


@dataclass(frozen=True)
class ExerciseTotals:
    exercise: str
    learners: int  # who attempted it
    passed: int
    mean_best: float


@dataclass(frozen=True)
class Difficulty:
    """One gradient across the class: how many learners got it right at their first attempt at the
    exercise, at a later one, or never; and the kinds of mistake most often made in it."""

    exercise: str
    gradient: str
    first_attempt: int
    eventually: int
    never: int
    kinds: tuple[tuple[str, int], ...]  # (kind, learners who made it), most common first

    @property
    def learners(self) -> int:
        return self.first_attempt + self.eventually + self.never

    def share(self, count: int) -> float:
        """`count` (of first_attempt, eventually, never) as a share of the learners."""
        return count / self.learners if self.learners else 0.0


@dataclass(frozen=True)
class AttemptScores:
    number: int  # 1 for a learner's first attempt
    submission: str
    submitted_at: str
    graded_at: str
    scores: dict[str, float]  # exercise: score, for the exercises found in it
    error: str | None


@dataclass(frozen=True)
class Feedback:
    """Where a learner stands on one exercise at their latest attempt at it: what a TA would send."""

    exercise: str
    score: float
    passed: bool
    root_cause: str | None
    kind: str | None
    hint: str | None
    found: str | None = None  # where in the file the answer was found ("In [57] ..., found by what it computes")


@dataclass(frozen=True)
class Learner:
    learner: str
    standings: dict[str, Standing]
    attempts: tuple[AttemptScores, ...]
    latest: dict[str, Feedback]

    def trajectory(self, exercise: str) -> list[float]:
        """The learner's score on `exercise` at each attempt that answered it, in order."""
        return [a.scores[exercise] for a in self.attempts if exercise in a.scores]

    def to_dict(self) -> dict:
        return {"learner": self.learner, "attempts": [asdict(a) for a in self.attempts],
                "latest": {e: asdict(f) for e, f in self.latest.items()}}


@dataclass(frozen=True)
class Report:
    gradebook: str
    exercises: tuple[str, ...]
    learners: tuple[Learner, ...]
    totals: tuple[ExerciseTotals, ...]
    difficulty: tuple[Difficulty, ...]

    def learner(self, name: str) -> Learner | None:
        return next((learner for learner in self.learners if learner.learner == name), None)

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA_VERSION,
            "gradebook": self.gradebook,
            "exercises": list(self.exercises),
            "class": [{"learner": learner.learner,
                       "exercises": {e: asdict(s) for e, s in learner.standings.items()}}
                      for learner in self.learners],
            "totals": [asdict(t) for t in self.totals],
            "gradients": [{**asdict(d), "kinds": [{"kind": k, "learners": n} for k, n in d.kinds]}
                          for d in self.difficulty],
            "learners": [learner.to_dict() for learner in self.learners],
        }


def summarize(snapshot: Snapshot) -> Report:
    grades_of: dict[int, list[GradeRow]] = defaultdict(list)
    for grade in snapshot.grades:
        grades_of[grade.attempt].append(grade)
    exercises = tuple(sorted({g.exercise for g in snapshot.grades}))
    by_learner: dict[str, list] = defaultdict(list)
    for attempt in snapshot.attempts:  # oldest first
        by_learner[attempt.learner].append(attempt)
    learners = tuple(_learner(name, attempts, grades_of) for name, attempts in sorted(by_learner.items()))
    return Report(str(snapshot.path), exercises, learners, _totals(exercises, learners), _difficulty(snapshot))


def _learner(name: str, attempts: list, grades_of: dict[int, list[GradeRow]]) -> Learner:
    scored: list[AttemptScores] = []
    latest: dict[str, Feedback] = {}
    for number, attempt in enumerate(attempts, start=1):
        grades = grades_of.get(attempt.id, [])
        scored.append(AttemptScores(number, attempt.submission, attempt.submitted_at, attempt.graded_at,
                                    {g.exercise: g.score for g in sorted(grades, key=lambda g: g.exercise)},
                                    attempt.error))
        for g in grades:
            latest[g.exercise] = Feedback(g.exercise, g.score, g.passed, g.root_cause, g.root_kind, g.root_hint,
                                          g.found)
    standings = {}
    for exercise in sorted(latest):
        scores = [a.scores[exercise] for a in scored if exercise in a.scores]
        standings[exercise] = Standing(max(scores), len(scores), max(scores) == 1.0)
    return Learner(name, standings, tuple(scored), dict(sorted(latest.items())))


def _totals(exercises: tuple[str, ...], learners: tuple[Learner, ...]) -> tuple[ExerciseTotals, ...]:
    totals = []
    for exercise in exercises:
        standings = [s for learner in learners if (s := learner.standings.get(exercise))]
        totals.append(ExerciseTotals(exercise, len(standings), sum(s.passed for s in standings),
                                     sum(s.best for s in standings) / len(standings)))
    return tuple(totals)


def _difficulty(snapshot: Snapshot) -> tuple[Difficulty, ...]:
    # attempts come oldest first for each learner, so a learner's first grade of a gradient is the one
    # of the lowest rank
    rank = {a.id: (i, a.learner) for i, a in enumerate(snapshot.attempts)}
    first: dict[tuple[str, str], dict[str, tuple[int, bool]]] = defaultdict(dict)  # learner: (rank, passed)
    ever: dict[tuple[str, str], set[str]] = defaultdict(set)  # learners who had it right at some attempt
    kinds: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for attempt, exercise, gradient, passed, kind in snapshot.gradients:  # in backprop order
        at, learner = rank[attempt]
        key = exercise, gradient
        if at < first[key].get(learner, (at + 1,))[0]:
            first[key][learner] = (at, passed)
        if passed:
            ever[key].add(learner)
        elif kind and kind not in _NOT_MISTAKES:
            kinds[key][kind].add(learner)
    difficulty = []
    for (exercise, gradient), firsts in sorted(first.items(), key=lambda item: item[0][0]):  # stable: backprop order
        right_first = sum(passed for _, passed in firsts.values())
        right = len(ever[exercise, gradient])
        common = sorted(((k, len(who)) for k, who in kinds[exercise, gradient].items()), key=lambda kn: (-kn[1], kn[0]))
        difficulty.append(Difficulty(exercise, gradient, right_first, right - right_first, len(firsts) - right,
                                     tuple(common[:MOST_COMMON_KINDS])))
    return tuple(difficulty)


def read_report(path: Path, hints: bool = True) -> Report:
    """The report on the gradebook at `path` (GradebookError where there is none to read); without
    `hints`, faster, and with no hint in the learners' feedback."""
    return summarize(read_snapshot(path, hints))
