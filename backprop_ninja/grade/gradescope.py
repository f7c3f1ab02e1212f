"""Gradescope's autograder contract: grade what a learner uploaded (in /autograder/submission/) as
`ninja grade` grades a class, isolated the same way, and write /autograder/results/results.json,
with one test per exercise.

A test's output is the check's table and findings, as `ninja check` prints them; an exercise the
upload does not answer scores 0 and says so. The grader's own log (stdout) stays hidden. Where the
sandbox the grading asks for does not work, nothing is graded: results.json scores 0 and says why; so too
where there is no upload at all (the submission folder missing or empty), which is an error besides.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import click

from ..check.render import render
from ..engine.isolation.sandbox import Sandbox
from ..engine.results.gradebook import Gradebook
from ..engine.results.records import CheckResult, Scoring, points as points_of
from . import GRADE_STEPS, Graded, find_submissions, grade

ROOT = Path("/autograder")
SUBMISSION, RESULTS = ROOT / "submission", ROOT / "results"
PACK = "makemore4"
POINTS = 25.0  # per exercise: makemore4's four make 100


def _best(graded: list[Graded], exercise: str, scoring: Scoring) -> CheckResult | None:
    """The best answer to `exercise` among the uploaded files (a learner may upload several)."""
    results = [r for g in graded for r in g.results if r.exercise == exercise]
    return max(results, key=lambda r: r.score_by(scoring), default=None)


def _test(number: int, exercise, result: CheckResult | None, points: float, unreadable: list[str],
          scoring: Scoring) -> dict:
    if result is None:
        output = (f"{exercise.key} was not found in your submission: upload the notebook (or {exercise.key}.py) "
                  "with the exercise's cell filled in." + "".join(f"\n{why}" for why in unreadable))
        score = 0.0
    else:
        heading = f"Found in {Path(result.source).name}: {result.found}" if result.found else ""
        output = click.unstyle(render(result, heading))
        score = points_of(result.score_by(scoring), points)
    return {"name": f"{exercise.key}: {exercise.title}", "number": str(number), "score": score,
            "max_score": points, "status": "passed" if result and result.passed else "failed",
            "output": output, "visibility": "visible"}


def autograde(submission: Path, results: Path, pack: str = PACK, points: float = POINTS, timeout: float | None = None,
              sandbox: Sandbox | None = None, scoring: Scoring = Scoring.STEPS) -> dict:
    """Grade the upload in `submission` against `pack`'s exercises and write `results`/results.json,
    each exercise scored by `scoring`; return what was written."""
    from ..engine.exercises.registry import packs

    start = time.monotonic()
    files = find_submissions([submission]) if submission.is_dir() else []
    with tempfile.TemporaryDirectory() as scratch, Gradebook(Path(scratch) / "gradebook.db") as book:
        graded = grade(files, book, os.cpu_count() or 1, GRADE_STEPS, "stem", timeout=timeout,
                       sandbox=sandbox) if files else []
    unreadable = [g.error for g in graded if g.error]
    tests = [_test(i, exercise, _best(graded, exercise.key, scoring), points, unreadable, scoring)
             for i, exercise in enumerate(packs()[pack].exercises, start=1)]
    found = ", ".join(f.name for f in files) or "no notebook or .py file"
    return _written(results, {"score": round(sum(t["score"] for t in tests), 2), "max_score": points * len(tests),
                              "execution_time": round(time.monotonic() - start, 1),
                              "output": f"Graded by backprop_ninja: {found}.", "visibility": "visible",
                              "stdout_visibility": "hidden", "tests": tests})


def refuse(results: Path, pack: str, points: float, reason: str) -> dict:
    """Grade nothing, because the sandbox does not work (`reason`, as it says it): write `results`/results.json
    with score 0 and why, for the learner to see and pass on. Return what was written."""
    return _not_graded(results, pack, points, (
        f"Not graded: backprop_ninja runs submissions only inside its sandbox, and {reason}. None of your "
        "code was run. This is a fault in the autograder's setup, not in your work: please tell your "
        "instructor; once it is fixed, a regrade gives your score."))


def missing_upload(submission: Path) -> str | None:
    """Why there is no upload at all in `submission` (the folder is missing, or holds no file), or None. That is
    an error, not a score: an upload of files that answer nothing is graded, and each test says what is missing."""
    if not submission.is_dir():
        return f"the submission folder {submission} is missing"
    if not any(p.is_file() for p in submission.rglob("*")):
        return f"the submission folder {submission} is empty"
    return None


def no_upload(results: Path, pack: str, points: float, reason: str) -> dict:
    """Grade nothing, because there is no upload (`reason`, as `missing_upload` says it): write
    `results`/results.json with score 0 and why, so that the learner sees it. Return what was written."""
    return _not_graded(results, pack, points, (
        f"Not graded: {reason}, so there was nothing to grade. If you did upload your notebook or .py files, "
        "this is a fault in the autograder, not in your work: please tell your instructor. Otherwise, upload "
        "them and submit again."))


def _not_graded(results: Path, pack: str, points: float, why: str) -> dict:
    from ..engine.exercises.registry import packs

    return _written(results, {"score": 0.0, "max_score": points * len(packs()[pack].exercises), "output": why,
                              "visibility": "visible", "stdout_visibility": "hidden", "tests": []})


def _written(results: Path, payload: dict) -> dict:
    results.mkdir(parents=True, exist_ok=True)
    partial = results / "results.json.part"
    partial.write_text(json.dumps(payload, indent=2))
    partial.replace(results / "results.json")  # whole or not at all
    return payload
