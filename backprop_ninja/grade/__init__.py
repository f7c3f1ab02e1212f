"""Grading a class: every submission found, every exercise in it checked as `ninja check` does
(each in a worker process of its own), and the results stored in the gradebook.

Submissions are files (`.ipynb`, `.py`), folders of them, or nbgrader's layout
(`submitted/<learner>/<assignment>/*.ipynb`). They are checked in grading processes, several at
once, each with its own zygote (in its own sandbox) and its own cache of the truths: a checker's
own work is Python, one core's worth per process. Only this process, which never imports torch,
writes the gradebook, one attempt at a time, so that an interrupted run loses nothing it finished.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import multiprocessing
import multiprocessing.util
import signal
import uuid
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from tabulate import tabulate

from .. import __version__
from ..engine.isolation.sandbox import Sandbox
from ..engine.reading.cells import SubmissionError
from ..engine.reading.submission import read_submissions
from ..engine.results.display import visible
from ..engine.results.gradebook import Attempt, Gradebook
from ..engine.results.records import CheckResult, Scoring, whole_percent

SUFFIXES = (".ipynb", ".py")
LEARNER_FROM = ("auto", "stem", "folder")
# A training stage's convergence check (ex4's, mlp's) when grading: long enough for a wrong backward
# to drift from autograd's run (its gradients have failed already: ex4's at four points of
# training), and short, as it is most of a class's grading time. `ninja check` trains for 2000.
GRADE_STEPS = 50


@dataclass(frozen=True)
class Graded:
    """What became of one submission in this run."""

    submission: str
    learner: str
    results: tuple[CheckResult, ...]
    error: str | None
    skipped: bool  # graded before, with the same content and grader: not graded again
    # Not graded for want of a grader (a cluster that lost it), not for anything in the file: not
    # stored, so that the next run grades it.
    lost: bool = False

    def to_dict(self) -> dict:
        return {"submission": self.submission, "learner": self.learner, "skipped": self.skipped,
                "results": [r.to_dict() for r in self.results], "error": self.error}

    @classmethod
    def from_dict(cls, d: dict) -> Graded:
        return cls(d["submission"], d["learner"], tuple(CheckResult.from_dict(r) for r in d["results"]), d["error"],
                   d["skipped"])


# A submission to grade: its file, its learner, its content's hash.
Task = tuple[Path, str, str]
# Where submissions are graded (a pool here, or a cluster): each task given back with what became of it.
Grader = Callable[[list[Task], int, float | None], Generator[tuple[Task, Graded], None, None]]


def find_submissions(paths: list[Path]) -> list[Path]:
    """The files to grade: those given, and those in the folders given, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file()
                            and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.is_file():
            found.append(path)
        else:
            raise SubmissionError(f"{path}: no such file or folder")
    return list(dict.fromkeys(found))


def learner_of(path: Path, learner_from: str = "auto") -> str:
    """Who submitted `path`: the <learner> folder of nbgrader's layout, else the file's stem (or,
    with `learner_from`, always the stem or always the folder)."""
    parts = path.resolve().parts
    if learner_from == "auto" and "submitted" in parts[:-2]:
        return parts[len(parts) - 1 - parts[::-1].index("submitted") + 1]
    return path.resolve().parent.name if learner_from == "folder" else path.stem


def grade_one(path: Path, learner: str, steps: int, timeout: float | None = None,
              content: bytes | None = None) -> Graded:
    """Every exercise `path` answers, checked; or why it cannot be graded at all. With the file's
    `content`, `path` is only its name (the file is on another machine)."""
    from ..engine.exercises.errors import PackError
    from ..engine.exercises.registry import answers, exercises
    from ..engine.judging.verdict import check_each

    try:
        answered = read_submissions(path, answers(), content)
    except SubmissionError as e:
        return Graded(str(path), learner, (), str(e), False)
    if not answered:
        return Graded(str(path), learner, (), f"{path}: no exercise found in it (no tagged answer cell, and no "
                      "cell that answers one by what it assigns)", False)
    try:
        # Fixes are searched for and kept in the gradebook, shown only where a report is asked for them.
        results = check_each([(exercises()[key], submission) for key, submission in answered.items()], str(path),
                             steps=steps, timeout=timeout, fix=True)
    except (PackError, OSError):
        raise  # the grader's own trouble (a pack, a zygote), not this file's: no grade rather than a wrong one
    except Exception as e:  # a fault of ours this file brings out: its own grade, never the whole run's end
        return Graded(str(path), learner, (), f"{path}: could not be graded: the checker failed on it "
                      f"({type(e).__name__}: {str(e)[:300]})", False)
    # The maps of where gradients are wrong are for a learner's own page: a gradebook keeps none.
    results = tuple(replace(r, gradients=tuple(replace(g, error_map=None) for g in r.gradients)) for r in results)
    return Graded(str(path), learner, results, None, False)


def grade(submissions: list[Path], gradebook: Gradebook, jobs: int, steps: int, learner_from: str = "auto",
          progress: Callable[[Graded, int, int], None] | None = None, timeout: float | None = None,
          sandbox: Sandbox | None = None, grader: Grader | None = None) -> list[Graded]:
    """Grade every submission (from `find_submissions`) not graded before, storing each as it
    finishes: by `grader` (a cluster's), or here, `jobs` at a time, in `sandbox` where there is one."""
    graded: list[Graded] = []
    todo: list[Task] = []
    for path in submissions:
        learner, content = learner_of(path, learner_from), _content(path)
        before, error = gradebook.graded_before(learner, content, __version__)
        if not before:
            todo.append((path, learner, content))
            continue
        graded.append(Graded(str(path), learner, (), error, True))
        if progress:
            progress(graded[-1], len(graded), len(submissions))
    if not todo:
        return graded
    results = (grader or functools.partial(_in_pool, jobs=jobs, sandbox=sandbox))(todo, steps, timeout)
    # A learner's files new in this run are what they handed in at one time: one attempt.
    hand_in = f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} {uuid.uuid4().hex[:8]}"
    with contextlib.closing(results):  # on any exception here, the graders are stopped at once
        for (path, learner, content), result in results:
            if not result.lost:
                gradebook.store(Attempt(learner, str(path), content, _mtime(path), result.results, result.error,
                                        hand_in), __version__)
            graded.append(result)
            if progress:
                progress(result, len(graded), len(submissions))
    return graded


def _in_pool(todo: list[Task], steps: int, timeout: float | None, jobs: int, sandbox: Sandbox | None
             ) -> Generator[tuple[Task, Graded], None, None]:
    """The tasks graded here, `jobs` at a time, as they finish."""
    # spawn: a grading process starts clean, whatever this one holds (threads, a torch of its own).
    pool = multiprocessing.get_context("spawn").Pool(min(jobs, len(todo)), _start_grading, (sandbox,))
    try:
        yield from pool.imap_unordered(functools.partial(_grade_task, steps=steps, timeout=timeout), todo)
    except BaseException:  # GeneratorExit too: the caller stopped early
        pool.terminate()
        raise
    else:
        pool.close()  # each grading process ends its zygote as it leaves (see _start_grading)
    finally:
        pool.join()


def _start_grading(sandbox: Sandbox | None) -> None:
    """A grading process's start: its zygote first, to import torch while this process does."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which ends the pool
    from ..engine.isolation.zygote_client import start_workers, stop_workers, use_sandbox

    use_sandbox(sandbox)
    start_workers()
    multiprocessing.util.Finalize(None, stop_workers, exitpriority=10)
    from ..engine.isolation.threads import use_threads

    use_threads()


def _grade_task(task: Task, steps: int, timeout: float | None) -> tuple[Task, Graded]:
    """One submission, in a grading process: the task it was given back, with what became of it."""
    path, learner, _ = task
    return task, grade_one(path, learner, steps, timeout)


def _content(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)


def render_grading(graded: Sequence[Graded], gradebook: Path, scoring: Scoring = Scoring.STEPS) -> str:
    """`ninja grade`'s summary: per exercise, how many were graded and passed, their mean score (by
    `scoring`) and their root causes by kind; then the submissions, counted once each (graded now,
    graded before, could not be graded), and why those could not be."""
    rows = []
    for key in sorted({r.exercise for g in graded for r in g.results}):
        results = [r for g in graded for r in g.results if r.exercise == key]
        kinds = Counter(_why(r) for r in results if r.root or r.stop)
        mean = sum(r.score_by(scoring) for r in results) / len(results)
        rows.append([key, len(results), sum(r.passed for r in results), f"{whole_percent(mean)}%",
                     ", ".join(f"{kind} {count}" for kind, count in kinds.most_common()) or "-"])
    failed = [g for g in graded if g.error]
    errors = [g.error + (" (graded before)" if g.skipped else "") + (" (not stored: the next run grades it)"
                                                                      if g.lost else "") for g in failed if g.error]
    now = sum(not g.skipped and not g.error for g in graded)
    before = sum(g.skipped and not g.error for g in graded)
    table = tabulate(rows, headers=["exercise", "graded", "passed", f"mean score ({scoring})",
                                    "root causes, by kind"])
    return "\n".join([table, "", f"{_count(len(graded), 'submission')}: {now} graded now, {before} graded before, "
                      f"{len(failed)} could not be graded; gradebook {gradebook}",
                      *(f"  {visible(error)}" for error in errors)])


def _why(result: CheckResult) -> str:
    """A result's root cause by its kind; where the code stopped short with none (out of time), why."""
    if result.root:
        return result.root.diagnosis.kind.value
    assert result.stop is not None  # as the caller chose
    return result.stop.words


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"
