"""Scores by the instructor's policy: one mistake costs one gradient under `steps` (the default), every
gradient after it under `gradients`, everything under `all`; only a full pass is 100 under any; one
rounding (down) everywhere; and a gradebook keeps what every policy needs, an old one upgraded in place."""
import json
import sqlite3
from datetime import datetime, timezone

import pytest

from backprop_ninja.engine.results.gradebook import Attempt, Gradebook, GradebookError, read_snapshot
from backprop_ninja.engine.results.records import (FAIL, MISSING, PASS, CheckResult, Comparison, Convergence, Diagnosis,
                                                   GradientResult, Kind, Scoring, points, whole_percent)

pytestmark = pytest.mark.fast


def _gradient(name: str, status, local, kind: Kind | None = None) -> GradientResult:
    return GradientResult(name, status, (2,), (2,), status == PASS, status == PASS, 0.0, "", "",
                          (Comparison(status, (2,)),), local, Diagnosis(kind, str(kind)) if kind else None)


def _result(*gradients: GradientResult, convergence: Convergence | None = None) -> CheckResult:
    return CheckResult("ex1", "ex1.py", gradients, (), convergence=convergence)


# 26 gradients, one missing += at the 5th: every later one inherits it, as in the lecture's ex1.
ONE_SLIP = _result(*(_gradient(f"d{i}", PASS, PASS) for i in range(4)),
                   _gradient("d4", FAIL, FAIL, Kind.MISSING_BRANCH),
                   *(_gradient(f"d{i}", FAIL, PASS, Kind.INHERITED) for i in range(5, 26)))


def test_one_slip_costs_one_gradient_under_steps_and_all_after_it_under_gradients():
    assert whole_percent(ONE_SLIP.score_by(Scoring.STEPS)) == 96  # 25 of 26
    assert whole_percent(ONE_SLIP.score_by(Scoring.GRADIENTS)) == 15  # 4 of 26
    assert ONE_SLIP.score_by(Scoring.ALL) == 0.0
    assert ONE_SLIP.to_dict()["scores"] == {"steps": 25 / 26, "gradients": 4 / 26, "all": 0.0}


def test_only_a_full_pass_is_full_marks():
    right = _result(_gradient("da", PASS, PASS), _gradient("db", PASS, None))
    assert all(right.score_by(scoring) == 1.0 for scoring in Scoring)
    # every own step right, but the grads list (what trains) disagrees: not a pass, so not 100
    at_odds = _result(_gradient("da", PASS, PASS), _gradient("db", FAIL, PASS, Kind.GRADS_LIST))
    assert at_odds.score_by(Scoring.STEPS) == 0.5 and not at_odds.passed
    # right gradients that do not train: the convergence is a part under every policy
    drifts = _result(_gradient("da", PASS, PASS), convergence=Convergence(50, False, "drifts", 3.3, 2.5, 2.9, 0.2, 5))
    assert drifts.score_by(Scoring.STEPS) == drifts.score_by(Scoring.GRADIENTS) == 0.5


def test_where_no_diagnosis_ran_a_step_counts_as_its_gradient_does():
    """Out of time, or a syntax error: no own steps are known, so a passing gradient is a right one."""
    stopped = _result(_gradient("da", PASS, None), _gradient("db", MISSING, None))
    assert stopped.score_by(Scoring.STEPS) == stopped.score_by(Scoring.GRADIENTS) == 0.5


def test_one_rounding_everywhere():
    assert [whole_percent(x) for x in (0.269, 0.999, 1.0, 0.0, 0.57)] == [26, 99, 100, 0, 57]
    assert points(0.269, 25) == 6.72 and points(1.0, 25) == 25 and points(25 / 26, 25) == 24.03


def _book(path):
    with Gradebook(path) as book:
        book.store(Attempt("ada", "ada/ex1.py", "a1", datetime(2026, 10, 1, tzinfo=timezone.utc), (ONE_SLIP,)), "0")


def test_the_gradebook_keeps_what_every_policy_needs(tmp_path):
    _book(tmp_path / "book.db")
    (grade,) = read_snapshot(tmp_path / "book.db").grades
    assert [grade.score_by(scoring) for scoring in Scoring] == [25 / 26, 4 / 26, 0.0]


def test_a_gradebook_of_the_first_schema_is_upgraded_in_place_by_grading(tmp_path):
    path = tmp_path / "book.db"
    _book(path)
    with sqlite3.connect(path) as db:  # as the first version wrote it: no steps score
        db.execute("ALTER TABLE grades DROP COLUMN steps_score")
        db.execute("ALTER TABLE grades DROP COLUMN stop")
        db.execute("ALTER TABLE attempts DROP COLUMN hand_in")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    with pytest.raises(GradebookError, match="upgrades it in place"):
        read_snapshot(path)
    Gradebook(path).close()  # what `ninja grade` opens
    (grade,) = read_snapshot(path).grades
    assert grade.score_by(Scoring.STEPS) == 25 / 26
    assert json.loads(sqlite3.connect(path).execute("SELECT result FROM grades").fetchone()[0])["exercise"] == "ex1"
