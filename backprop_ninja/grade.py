"""Grading a class: every submission found, every exercise in it checked as `ninja check` does
(each in a worker process of its own), and the results stored in the gradebook.

Submissions are files (`.ipynb`, `.py`), folders of them, or nbgrader's layout
(`submitted/<learner>/<assignment>/*.ipynb`). The checks run in parallel; only this process writes
the gradebook, one attempt at a time, so that an interrupted run loses nothing it finished.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .check import check
from .exercises import ANSWERS, EXERCISES
from .gradebook import Attempt, Gradebook
from .records import CheckResult
from .submission import SubmissionError, exercises_in, read_submission

SUFFIXES = (".ipynb", ".py")
LEARNER_FROM = ("auto", "stem", "folder")


@dataclass(frozen=True)
class Graded:
    """What became of one submission in this run."""

    submission: str
    learner: str
    results: tuple[CheckResult, ...]
    error: str | None
    skipped: bool  # graded before, with the same content and grader: not graded again

    def to_dict(self) -> dict:
        return {"submission": self.submission, "learner": self.learner, "skipped": self.skipped,
                "results": [r.to_dict() for r in self.results], "error": self.error}


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


def grade_one(path: Path, learner: str, steps: int, timeout: float | None = None) -> Graded:
    """Every exercise `path` answers, checked; or why it cannot be graded at all."""
    try:
        keys = exercises_in(path, ANSWERS)
    except SubmissionError as e:
        return Graded(str(path), learner, (), str(e), False)
    if not keys:
        return Graded(str(path), learner, (), f"{path}: no exercise found in it (no tagged answer cell, and no "
                      "cell that answers one by what it assigns)", False)
    results: list[CheckResult] = []
    for key in keys:
        try:
            snippets = read_submission(path, key, ANSWERS).snippets
        except SubmissionError as e:
            return Graded(str(path), learner, tuple(results), str(e), False)
        results.append(check(EXERCISES[key], snippets, str(path), steps=steps, timeout=timeout))
    return Graded(str(path), learner, tuple(results), None, False)


def grade(submissions: list[Path], gradebook: Gradebook, jobs: int, steps: int, learner_from: str = "auto",
          progress: Callable[[Graded, int, int], None] | None = None, timeout: float | None = None) -> list[Graded]:
    """Grade every submission (from `find_submissions`) not graded before, `jobs` at a time,
    storing each as it finishes."""
    graded: list[Graded] = []
    todo = []
    for path in submissions:
        learner, content = learner_of(path, learner_from), _content(path)
        before, error = gradebook.graded_before(learner, content, __version__)
        if not before:
            todo.append((path, learner, content))
            continue
        graded.append(Graded(str(path), learner, (), error, True))
        if progress:
            progress(graded[-1], len(graded), len(submissions))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for (path, learner, content), result in _as_done(pool, todo, steps, timeout):
            gradebook.store(Attempt(learner, str(path), content, _mtime(path), result.results, result.error),
                            __version__)
            graded.append(result)
            if progress:
                progress(result, len(graded), len(submissions))
    return graded


def _as_done(pool: ThreadPoolExecutor, todo: list[tuple[Path, str, str]], steps: int, timeout: float | None
             ) -> Iterator[tuple[tuple[Path, str, str], Graded]]:
    pending: dict[Future[Graded], tuple[Path, str, str]] = {
        pool.submit(grade_one, path, learner, steps, timeout): (path, learner, content)
        for path, learner, content in todo}
    while pending:
        finished, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in finished:
            yield pending.pop(future), future.result()


def _content(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
