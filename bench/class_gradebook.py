"""A generated gradebook for benchmarking reports: `python bench/class_gradebook.py PATH [LEARNERS]`.

Every learner makes three attempts at each exercise, getting better each time; a failing gradient
gets a kind of mistake and the first one is the root cause with its hint, as a real check records
them. Records are built directly (no grading), so a class of 1,000 takes seconds.
"""
from __future__ import annotations

import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from backprop_ninja import __version__
from backprop_ninja.engine.results.gradebook import Attempt, Gradebook
from backprop_ninja.engine.results.records import (FAIL, PASS, CheckResult, Comparison, Convergence, Diagnosis,
                                                   GradientResult, Kind, RootCause)
from backprop_ninja.packs.makemore4.exercises import EXERCISES

ATTEMPTS = 3
MISTAKES = (Kind.TRANSPOSE, Kind.SCALE, Kind.SIGN, Kind.MISSING_BRANCH, Kind.WRONG_AXIS, Kind.SHAPE)


def _result(exercise, rng: random.Random, skill: float) -> CheckResult:
    gradients, root = [], None
    for g in exercise.gradients:
        right = rng.random() < skill
        diagnosis = None if right else Diagnosis(rng.choice(MISTAKES), f"{g.name} looks wrong")
        status = PASS if right else FAIL
        gradients.append(GradientResult(g.name, status, (32, 27), (32, 27), right, right, 0.0 if right else 0.5, "",
                                        g.hint, (Comparison(status, (32, 27)),), status, diagnosis))
        if diagnosis and root is None:
            root = RootCause(g.name, diagnosis, g.hint, True)
    convergence = (Convergence(50, root is None, "generated", 3.3, 2.9, 2.9, 0.0, 5)
                   if exercise.key == "ex4" else None)
    return CheckResult(exercise.key, f"{exercise.key}.ipynb", tuple(gradients), (), root=root, convergence=convergence)


def write_gradebook(path: Path, learners: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    start = datetime(2026, 10, 1, tzinfo=timezone.utc)
    with Gradebook(path) as book:
        for i in range(learners):
            talent = rng.uniform(0.6, 0.98)
            for attempt in range(ATTEMPTS):
                skill = min(1.0, talent + 0.1 * attempt)
                results = tuple(_result(e, rng, skill) for e in EXERCISES.values())
                when = start + timedelta(days=7 * attempt + rng.randrange(7), minutes=rng.randrange(1440))
                book.store(Attempt(f"learner{i:04d}", f"submitted/learner{i:04d}/attempt{attempt}.ipynb",
                                   f"{i}-{attempt}", when, results), __version__)


if __name__ == "__main__":
    write_gradebook(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1000)
