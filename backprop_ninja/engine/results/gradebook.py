"""The gradebook: a SQLite file of every attempt graded and its grades, which `ninja grade` writes
and reports read back.

`Gradebook` writes it (`ninja grade`); `read_snapshot` reads it back for reports, read-only and
as one consistent view even while a grading run writes to it.

One row per attempt (a learner's submission, by its content, graded by one version of the grader),
one per exercise graded in it, one per gradient. An attempt and all its grades are written in one
transaction, in WAL mode with full syncs, so an interrupted run (Ctrl-C, kill -9, a power cut) loses
no finished grade and leaves no half-written one. Grading is idempotent: an attempt already in the
gradebook is not graded again; a changed resubmission is a new attempt, kept beside the old.
"""
from __future__ import annotations

import json
import sqlite3
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

from .records import CheckResult, Fix, Scoring, Status, Stop

# 2: each grade's score under every scoring policy (`steps_score`, beside the passing share), why its
# code stopped short (`stop`), and the hand-in each file was part of (`hand_in`).
SCHEMA_VERSION = 2
DEFAULT = Path("gradebook.db")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY,
    learner TEXT NOT NULL,
    submission TEXT NOT NULL,      -- the file, as given to `ninja grade`
    content TEXT NOT NULL,         -- sha256 of the file's bytes
    grader TEXT NOT NULL,          -- the version of backprop_ninja that graded it
    submitted_at TEXT NOT NULL,    -- the file's modification time, UTC, ISO 8601
    graded_at TEXT NOT NULL,
    error TEXT,                    -- why it could not be graded at all, or NULL
    hand_in TEXT,                  -- what the learner handed in at one time (one grading run's), or NULL
    UNIQUE (learner, content, grader)
);
CREATE TABLE IF NOT EXISTS grades (
    attempt INTEGER NOT NULL REFERENCES attempts(id),
    exercise TEXT NOT NULL,
    score REAL NOT NULL,           -- the share of the parts that pass (scoring "gradients")
    passed INTEGER NOT NULL,
    root_cause TEXT,
    root_kind TEXT,
    result TEXT NOT NULL,          -- the check's JSON, as `ninja check --json` prints it
    steps_score REAL NOT NULL,     -- the share of the parts right in themselves (scoring "steps")
    stop TEXT,                     -- why the code did not run to its end (records.Stop), or NULL
    PRIMARY KEY (attempt, exercise)
);
CREATE TABLE IF NOT EXISTS gradient_grades (
    attempt INTEGER NOT NULL,
    exercise TEXT NOT NULL,
    gradient TEXT NOT NULL,
    status TEXT NOT NULL,
    local_status TEXT,
    kind TEXT,
    PRIMARY KEY (attempt, exercise, gradient),
    FOREIGN KEY (attempt, exercise) REFERENCES grades(attempt, exercise)
);
"""


class GradebookError(Exception):
    """A gradebook that cannot be opened or is not one of ours: a user error."""


@dataclass(frozen=True)
class Attempt:
    """One submission to store: who, which file and content, and its results (or why there are none)."""

    learner: str
    submission: str
    content: str
    submitted_at: datetime
    results: tuple[CheckResult, ...]
    error: str | None = None
    # What the learner handed in at one time, this file with others (the grading run that found them
    # new); None for a file on its own.
    hand_in: str | None = None


class Gradebook:
    def __init__(self, path: Path):
        try:
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")  # a finished grade survives a power cut
            self.db.executescript(_SCHEMA)
            version = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        except sqlite3.DatabaseError as e:
            raise GradebookError(f"{path}: not a gradebook ({e})") from None
        if version is None:
            self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif int(version[0]) > SCHEMA_VERSION:
            raise GradebookError(f"{path}: written by a newer backprop_ninja (schema {version[0]}); upgrade it")
        elif int(version[0]) == 1:
            self._upgrade_from_1()

    def _upgrade_from_1(self) -> None:
        """Schema 1 kept only the passing share: each grade's steps score and stop, from its whole result."""
        with _transaction(self.db):
            self.db.execute("ALTER TABLE grades ADD COLUMN steps_score REAL")
            self.db.execute("ALTER TABLE grades ADD COLUMN stop TEXT")
            self.db.execute("ALTER TABLE attempts ADD COLUMN hand_in TEXT")  # each file its own, as before
            results = [(CheckResult.from_dict(json.loads(text)), rowid)
                       for rowid, text in self.db.execute("SELECT rowid, result FROM grades").fetchall()]
            self.db.executemany("UPDATE grades SET steps_score = ?, stop = ? WHERE rowid = ?",
                                [(r.steps_score, r.stop.value if r.stop else None, rowid) for r, rowid in results])
            self.db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def graded_before(self, learner: str, content: str, grader: str) -> tuple[bool, str | None]:
        """Is this learner's submission, with this content, already graded by this grader, and if
        so, why could it not be graded (None when it could)?"""
        row = self.db.execute("SELECT error FROM attempts WHERE learner = ? AND content = ? AND grader = ?",
                              (learner, content, grader)).fetchone()
        return (row is not None, row[0] if row else None)

    def store(self, attempt: Attempt, grader: str) -> bool:
        """Write an attempt and all its grades at once; False if it was there already."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with _transaction(self.db):
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO attempts (learner, submission, content, grader, submitted_at, graded_at, error,"
                " hand_in) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (attempt.learner, attempt.submission, attempt.content, grader,
                 attempt.submitted_at.astimezone(timezone.utc).isoformat(timespec="seconds"), now, attempt.error,
                 attempt.hand_in))
            if not cursor.rowcount:
                return False
            attempt_id = cursor.lastrowid
            for result in attempt.results:
                root = result.root
                self.db.execute("INSERT INTO grades (attempt, exercise, score, passed, root_cause, root_kind, result, "
                                "steps_score, stop) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                (attempt_id, result.exercise, result.score, int(result.passed),
                                 root.name if root else None, root.diagnosis.kind.value if root else None,
                                 json.dumps(result.to_dict()), result.steps_score,
                                 result.stop.value if result.stop else None))
                self.db.executemany("INSERT INTO gradient_grades VALUES (?, ?, ?, ?, ?, ?)", [
                    (attempt_id, result.exercise, g.name, g.status.value,
                     g.local_status.value if g.local_status else None, g.diagnosis.kind.value if g.diagnosis else None)
                    for g in result.gradients])
        return True

    def results(self, learner: str | None = None) -> list[tuple[str, str, CheckResult]]:
        """(learner, graded_at, result) of every grade, oldest first, each the check's whole result
        (reports read the lighter `read_snapshot`)."""
        rows = self.db.execute(
            "SELECT a.learner, a.graded_at, g.result FROM grades g JOIN attempts a ON a.id = g.attempt"
            + (" WHERE a.learner = ?" if learner else "") + " ORDER BY a.id, g.exercise",
            (learner,) if learner else ()).fetchall()
        return [(who, when, CheckResult.from_dict(json.loads(text))) for who, when, text in rows]


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error: all of an attempt or none of it."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if kind else "COMMIT")


@dataclass(frozen=True)
class AttemptRow:
    """One attempt as reports see it: the newest grading of a learner's submission (by content)."""

    id: int
    learner: str
    submission: str
    submitted_at: str
    graded_at: str
    error: str | None
    hand_in: str  # the files of one learner's hand-in share it


@dataclass(frozen=True)
class GradeRow:
    attempt: int
    exercise: str
    score: float  # the passing share; `score_by` gives every policy's
    passed: bool
    root_cause: str | None
    root_kind: str | None
    root_hint: str | None
    found: str | None  # where in the file the answer was found, where there was any finding to do
    steps_score: float
    stop: Stop | None  # why the code did not run to its end, where it did not
    root_fix: Fix | None = None  # the edit found to make the root cause right, where one was asked for

    def score_by(self, scoring: Scoring) -> float:
        return scoring.of(self.passed, self.score, self.steps_score)


class GradientRow(NamedTuple):  # a tuple: a class has ~100,000 of them
    attempt: int
    exercise: str
    gradient: str
    passed: bool
    kind: str | None
    own_step: bool | None  # is its own step right; None where no diagnosis said


class WrongStep(NamedTuple):
    """A gradient whose own step is wrong, as it compared with the truth on each instance."""

    gradient: str
    kind: str | None
    maxdiffs: tuple[float | None, ...]  # None where there is none (the shape is wrong, a nan)
    wrong_on: int  # the instances it fails on


class AnswerRow(NamedTuple):
    """How one grade's answer is written (the hashes of its statements' normal form) and the gradients
    whose own step it gets wrong, in backprop order: what comparing answers across a class reads."""

    attempt: int
    exercise: str
    normal_form: tuple[str, ...]
    wrong_steps: tuple[WrongStep, ...]


@dataclass(frozen=True)
class Snapshot:
    """Everything a report reads, as of one moment: attempts oldest first (by submission time),
    their grades, and the gradients of every grade in backprop order (and, where asked for, how each
    grade's answer is written and what its wrong steps computed)."""

    path: Path
    attempts: tuple[AttemptRow, ...]
    grades: tuple[GradeRow, ...]
    gradients: tuple[GradientRow, ...]
    answers: tuple[AnswerRow, ...] = ()


# A submission graded by several versions of the grader is one attempt: the newest grading counts.
_NEWEST = ("SELECT * FROM attempts WHERE id IN (SELECT MAX(id) FROM attempts GROUP BY learner, content)")


def read_snapshot(path: Path, hints: bool = True, answers: bool = False, fixes: bool = False) -> Snapshot:
    """The gradebook at `path`, opened read-only and read in one transaction, so that a grading run
    writing to it meanwhile is seen either before or after each of its attempts, never half-way.
    Without `hints`, the root causes' hints and where each answer was found (read from each grade's
    JSON, the slow part) are None; with `answers`, each grade's `AnswerRow` is read too (from its JSON);
    with `fixes`, each grade's root fix, where the grading found one."""
    if not path.is_file():
        raise GradebookError(f"{path}: no gradebook there; `ninja grade` writes one (or give --gradebook PATH)")
    try:
        db = sqlite3.connect(f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro", uri=True,
                             timeout=30, isolation_level=None)
    except sqlite3.Error as e:
        raise GradebookError(f"{path}: cannot open it read-only ({e})") from None
    try:
        db.execute("BEGIN")
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            raise GradebookError(f"{path}: empty, no grades in it yet (`ninja grade` fills it)")
        version = (db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                   if "meta" in tables else None)
        if version is not None and int(version[0]) == 1:
            raise GradebookError(f"{path}: written by an older backprop_ninja (schema 1); `ninja grade` with this "
                                 "version upgrades it in place, regrading nothing")
        if version is None or int(version[0]) != SCHEMA_VERSION:
            written = "an older" if version is None or int(version[0]) < SCHEMA_VERSION else "a newer"
            raise GradebookError(f"{path}: written by {written} backprop_ninja (schema "
                                 f"{version[0] if version else 'unknown'}, this one reads {SCHEMA_VERSION}); "
                                 "grade the class again into a new gradebook, or use that version")
        attempts = tuple(AttemptRow(*row) for row in db.execute(
            "SELECT id, learner, submission, submitted_at, graded_at, error, COALESCE(hand_in, '#' || id) FROM ("
            + _NEWEST + ") ORDER BY learner, submitted_at, id"))
        grades = tuple(GradeRow(a, e, s, bool(p), rc, rk, hint, found or None, steps, _stop(stop),
                                Fix.from_dict(json.loads(fix)) if fix else None)
                       for a, e, s, p, rc, rk, hint, found, steps, stop, fix in db.execute(
            "SELECT g.attempt, g.exercise, g.score, g.passed, g.root_cause, g.root_kind, "
            + ("json_extract(g.result, '$.root_hint'), json_extract(g.result, '$.found')" if hints else "NULL, NULL")
            + ", g.steps_score, g.stop, " + ("json_extract(g.result, '$.root_fix')" if fixes else "NULL")
            + " FROM grades g JOIN (" + _NEWEST + ") a ON a.id = g.attempt"))
        gradients = tuple(map(GradientRow._make, db.execute(
            "SELECT r.attempt, r.exercise, r.gradient, r.status = 'pass', r.kind,"
            " CASE WHEN r.local_status IS NULL THEN NULL ELSE r.local_status = 'pass' END FROM gradient_grades r"
            " JOIN (" + _NEWEST + ") a ON a.id = r.attempt"
            # A part the submission may leave out (micrograd's relu) is not a gradient it got wrong.
            f" WHERE r.status != '{Status.NOT_DEFINED.value}' ORDER BY r.rowid")))
        answered = _answers(db) if answers else ()
        db.execute("COMMIT")
    except sqlite3.DatabaseError as e:
        raise GradebookError(f"{path}: not a gradebook this version can read ({e})") from None
    finally:
        db.close()
    return Snapshot(path, attempts, grades, gradients, answered)


def _answers(db: sqlite3.Connection) -> tuple[AnswerRow, ...]:
    """Each grade's normal form, and its gradients whose own step is wrong: only those are taken out of
    the result's JSON (by SQLite, which reads it faster than Python would)."""
    wrong: dict[tuple[int, str], list[WrongStep]] = {}
    for attempt, exercise, gradient, kind, instances in db.execute(
            "SELECT g.attempt, g.exercise, json_extract(r.value, '$.name'), json_extract(r.value, '$.diagnosis.kind'),"
            " json_extract(r.value, '$.instances') FROM grades g JOIN (" + _NEWEST + ") a ON a.id = g.attempt,"
            " json_each(g.result, '$.gradients') r"
            f" WHERE json_extract(r.value, '$.local_status') = '{Status.FAIL.value}' ORDER BY g.rowid, r.key"):
        compared = json.loads(instances or "[]")
        wrong.setdefault((attempt, exercise), []).append(WrongStep(
            gradient, kind, tuple(c.get("maxdiff") for c in compared),
            sum(c.get("status") != Status.PASS.value for c in compared)))
    forms = db.execute("SELECT g.attempt, g.exercise, json_extract(g.result, '$.normal_form') FROM grades g"
                       " JOIN (" + _NEWEST + ") a ON a.id = g.attempt")
    return tuple(AnswerRow(attempt, exercise, tuple(json.loads(form) if form else ()),
                           tuple(wrong.get((attempt, exercise), ()))) for attempt, exercise, form in forms)


def _stop(value: str | None) -> Stop | None:
    """A stored stop; one this version does not know reads as an exception of the code's own."""
    if value is None:
        return None
    return Stop(value) if value in Stop._value2member_map_ else Stop.RAISED
