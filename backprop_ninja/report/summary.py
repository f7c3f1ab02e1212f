"""The report's tables, computed from a gradebook snapshot: plain data, ready for any format."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from ..engine.results.gradebook import AttemptRow, GradeRow, Snapshot, read_snapshot
from ..engine.results.records import Fix, Kind, Scoring, Stop
from .similar import SharedAnswers, similar_answers

# Bumped when a key of `Report.to_dict()` changes meaning or goes away (see the README).
SCHEMA_VERSION = 1
MOST_COMMON_KINDS = 3
# Notes of the diagnosis that are not mistakes of the gradient's own step.
_NOT_MISTAKES = {Kind.INHERITED.value, Kind.SHAPE_NOTE.value}


@dataclass(frozen=True)
class Standing:
    """A learner on one exercise: their best score, over how many attempts, whether it passed, and
    why the code of the attempt that scored it stopped short, where it did (out of time, say)."""

    best: float
    attempts: int
    passed: bool
    stop: Stop | None = None


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
    """An attempt: what a learner handed in at one time (one file or several), and its scores."""

    number: int  # 1 for a learner's first attempt
    submission: str  # its first file
    submitted_at: str  # its newest file's time
    graded_at: str
    scores: dict[str, float]  # exercise: score, for the exercises found in it (the best, where two files answer)
    error: str | None  # why a file of it could not be graded, where one could not
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class GradientLine:
    """One gradient of a learner's answer: does it pass, is its own step right, the kind of mistake."""

    gradient: str
    passed: bool
    own_step: bool | None
    kind: str | None


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
    stop: Stop | None = None  # why the code stopped short, where it did
    gradients: tuple[GradientLine, ...] = ()  # in backprop order
    fix: Fix | None = None  # the edit found to make the root cause right, where the report was asked for it


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
    scoring: Scoring  # how every score in it is counted
    exercises: tuple[str, ...]
    learners: tuple[Learner, ...]
    totals: tuple[ExerciseTotals, ...]
    difficulty: tuple[Difficulty, ...]
    # Answers alike where alike answers are unlikely, strongest first: for a person to review, never a grade
    # (empty where the gradebook was read without its answers).
    similar: tuple[SharedAnswers, ...] = ()

    def learner(self, name: str) -> Learner | None:
        return next((learner for learner in self.learners if learner.learner == name), None)

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA_VERSION,
            "gradebook": self.gradebook,
            "scoring": self.scoring.value,
            "exercises": list(self.exercises),
            "class": [{"learner": learner.learner,
                       "exercises": {e: asdict(s) for e, s in learner.standings.items()}}
                      for learner in self.learners],
            "totals": [asdict(t) for t in self.totals],
            "gradients": [{**asdict(d), "kinds": [{"kind": k, "learners": n} for k, n in d.kinds]}
                          for d in self.difficulty],
            "learners": [learner.to_dict() for learner in self.learners],
            "similar": [group.to_dict() for group in self.similar],
        }


def summarize(snapshot: Snapshot, scoring: Scoring = Scoring.STEPS) -> Report:
    grades_of: dict[int, list[GradeRow]] = defaultdict(list)
    for grade in snapshot.grades:
        grades_of[grade.attempt].append(grade)
    lines_of: dict[tuple[int, str], list[GradientLine]] = defaultdict(list)
    for row in snapshot.gradients:
        lines_of[row.attempt, row.exercise].append(GradientLine(row.gradient, row.passed, row.own_step, row.kind))
    exercises = tuple(sorted({g.exercise for g in snapshot.grades}))
    by_learner: dict[str, list[AttemptRow]] = defaultdict(list)
    for attempt in snapshot.attempts:  # oldest first
        by_learner[attempt.learner].append(attempt)
    learners = tuple(_learner(name, attempts, grades_of, lines_of, scoring)
                     for name, attempts in sorted(by_learner.items()))
    return Report(str(snapshot.path), scoring, exercises, learners, _totals(exercises, learners),
                  _difficulty(snapshot), similar_answers(snapshot))


def _learner(name: str, files: list[AttemptRow], grades_of: dict[int, list[GradeRow]],
             lines_of: dict[tuple[int, str], list[GradientLine]], scoring: Scoring) -> Learner:
    """A learner's attempts, each what they handed in at one time (their files, oldest first, grouped)."""
    hand_ins: dict[str, list[AttemptRow]] = defaultdict(list)
    for file in files:
        hand_ins[file.hand_in].append(file)
    scored: list[AttemptScores] = []
    latest: dict[str, Feedback] = {}
    best_of: dict[str, list[GradeRow]] = defaultdict(list)  # exercise: its grade in each attempt, oldest first
    for number, hand_in in enumerate(hand_ins.values(), start=1):
        answers: dict[str, GradeRow] = {}
        for grade in (g for file in hand_in for g in grades_of.get(file.id, [])):
            if grade.exercise not in answers or grade.score_by(scoring) > answers[grade.exercise].score_by(scoring):
                answers[grade.exercise] = grade
        errors = [file.error for file in hand_in if file.error]
        scored.append(AttemptScores(number, hand_in[0].submission, max(f.submitted_at for f in hand_in),
                                    max(f.graded_at for f in hand_in),
                                    {e: g.score_by(scoring) for e, g in sorted(answers.items())},
                                    "; ".join(errors) or None, tuple(f.submission for f in hand_in)))
        for exercise, g in answers.items():
            latest[exercise] = Feedback(exercise, g.score_by(scoring), g.passed, g.root_cause, g.root_kind,
                                        g.root_hint, g.found, g.stop, tuple(lines_of[g.attempt, exercise]),
                                        g.root_fix)
            best_of[exercise].append(g)
    standings = {}
    for exercise in sorted(latest):
        grades = best_of[exercise]
        best = max(reversed(grades), key=lambda g: g.score_by(scoring))  # the latest of the best
        standings[exercise] = Standing(best.score_by(scoring), len(grades), any(g.passed for g in grades),
                                       None if best.passed else best.stop)
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
    for attempt, exercise, gradient, passed, kind, _ in snapshot.gradients:  # in backprop order
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


def read_report(path: Path, hints: bool = True, scoring: Scoring = Scoring.STEPS, similar: bool = False,
                fixes: bool = False) -> Report:
    """The report on the gradebook at `path` (GradebookError where there is none to read), its scores
    counted by `scoring`; without `hints`, faster, and with no hint in the learners' feedback; with
    `similar`, slower, with the answers shared across the class; with `fixes`, the learners' feedback
    says the edit the grading found to make each first wrong step right."""
    return summarize(read_snapshot(path, hints, answers=similar, fixes=fixes), scoring)
