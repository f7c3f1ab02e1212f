"""Gradescope's autograder contract: grade what a learner uploaded (in /autograder/submission/) as
`ninja grade` grades a class, isolated the same way, and write /autograder/results/results.json,
with one test per exercise.

A test's output is the check's table and findings, as `ninja check` prints them; an exercise the
upload does not answer scores 0 and says so. The grader's own log (stdout) stays hidden. Where the
sandbox the grading asks for does not work, nothing is graded: results.json scores 0 and says why.
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
from ..engine.results.records import CheckResult
from . import GRADE_STEPS, Graded, find_submissions, grade

ROOT = Path("/autograder")
SUBMISSION, RESULTS = ROOT / "submission", ROOT / "results"
PACK = "makemore4"
POINTS = 25.0  # per exercise: makemore4's four make 100


def _best(graded: list[Graded], exercise: str) -> CheckResult | None:
    """The best answer to `exercise` among the uploaded files (a learner may upload several)."""
    results = [r for g in graded for r in g.results if r.exercise == exercise]
    return max(results, key=lambda r: r.score, default=None)


def _test(number: int, exercise, result: CheckResult | None, points: float, unreadable: list[str]) -> dict:
    if result is None:
        output = (f"{exercise.key} was not found in your submission: upload the notebook (or {exercise.key}.py) "
                  "with the exercise's cell filled in." + "".join(f"\n{why}" for why in unreadable))
        score = 0.0
    else:
        heading = f"Found in {Path(result.source).name}: {result.found}" if result.found else ""
        output = click.unstyle(render(result, heading))
        score = round(points * result.score, 2)
    return {"name": f"{exercise.key}: {exercise.title}", "number": str(number), "score": score,
            "max_score": points, "status": "passed" if result and result.passed else "failed",
            "output": output, "visibility": "visible"}


def autograde(submission: Path, results: Path, pack: str = PACK, points: float = POINTS, timeout: float | None = None,
              sandbox: Sandbox | None = None) -> dict:
    """Grade the upload in `submission` against `pack`'s exercises and write `results`/results.json;
    return what was written."""
    from ..engine.exercises.registry import packs

    start = time.monotonic()
    files = find_submissions([submission]) if submission.is_dir() else []
    with tempfile.TemporaryDirectory() as scratch, Gradebook(Path(scratch) / "gradebook.db") as book:
        graded = grade(files, book, os.cpu_count() or 1, GRADE_STEPS, "stem", timeout=timeout,
                       sandbox=sandbox) if files else []
    unreadable = [g.error for g in graded if g.error]
    tests = [_test(i, exercise, _best(graded, exercise.key), points, unreadable)
             for i, exercise in enumerate(packs()[pack].exercises, start=1)]
    found = ", ".join(f.name for f in files) or "no notebook or .py file"
    return _written(results, {"score": round(sum(t["score"] for t in tests), 2), "max_score": points * len(tests),
                              "execution_time": round(time.monotonic() - start, 1),
                              "output": f"Graded by backprop_ninja: {found}.", "visibility": "visible",
                              "stdout_visibility": "hidden", "tests": tests})


def refuse(results: Path, pack: str, points: float, reason: str) -> dict:
    """Grade nothing, because the sandbox does not work (`reason`, as it says it): write `results`/results.json
    with score 0 and why, for the learner to see and pass on. Return what was written."""
    from ..engine.exercises.registry import packs

    why = (f"Not graded: backprop_ninja runs submissions only inside its sandbox, and {reason}. None of your "
           "code was run. This is a fault in the autograder's setup, not in your work: please tell your "
           "instructor; once it is fixed, a regrade gives your score.")
    return _written(results, {"score": 0.0, "max_score": points * len(packs()[pack].exercises), "output": why,
                              "visibility": "visible", "stdout_visibility": "hidden", "tests": []})


def _written(results: Path, payload: dict) -> dict:
    results.mkdir(parents=True, exist_ok=True)
    partial = results / "results.json.part"
    partial.write_text(json.dumps(payload, indent=2))
    partial.replace(results / "results.json")  # whole or not at all
    return payload
