"""The report's tables from a gradebook written directly (no grading): who attempted what, their best
scores, which gradients the class gets right at once, later or never and the mistakes made in them,
each learner's progress and history, and the CSV. The fast tier: a real SQLite file, no worker."""
import csv
import io
from datetime import datetime, timezone

import pytest

from backprop_ninja.engine.results.gradebook import Attempt, Gradebook, read_snapshot
from backprop_ninja.engine.results.records import (FAIL, PASS, CheckResult, Comparison, Diagnosis, GradientResult,
                                                   Kind, RootCause)
from backprop_ninja.report.summary import summarize
from backprop_ninja.report.text import (class_rows, gradient_rows, history_rows, learner_view, progress_rows, render,
                                        to_csv, totals_rows)

pytestmark = pytest.mark.fast

GRADIENTS = ("dlogits", "dh", "dW2", "db2")


def _result(exercise: str, wrong: dict[str, Kind]) -> CheckResult:
    """A result whose gradients in `wrong` fail with that kind, the first of them the root cause."""
    gradients = []
    for name in GRADIENTS if exercise == "ex1" else GRADIENTS[:1]:
        kind = wrong.get(name)
        status = FAIL if kind else PASS
        gradients.append(GradientResult(name, status, (4, 3), (4, 3), kind is None, kind is None, 0.0 if kind is None
                                        else 0.5, "", f"hint for {name}", (Comparison(status, (4, 3)),),
                                        FAIL if kind and kind is not Kind.INHERITED else PASS,
                                        Diagnosis(kind, f"{name}: {kind}") if kind else None))
    first = next((g for g in gradients if g.diagnosis and g.diagnosis.kind is not Kind.INHERITED), None)
    root = RootCause(first.name, first.diagnosis, first.hint, True) if first and first.diagnosis else None
    return CheckResult(exercise, f"{exercise}.py", tuple(gradients), (), root=root)


def _day(day: int) -> datetime:
    return datetime(2026, 10, day, 12, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """ada: ex1 with dh transposed (two gradients inherit it), then right; bob: ex1 with db2's sign
    wrong, and ex2 right; cy: a file that could not be read."""
    path = tmp_path_factory.mktemp("book") / "gradebook.db"
    with Gradebook(path) as book:
        book.store(Attempt("ada", "ada/ex1.py", "a1", _day(1), (
            _result("ex1", {"dh": Kind.TRANSPOSE, "dW2": Kind.INHERITED, "db2": Kind.INHERITED}),)), "0")
        book.store(Attempt("ada", "ada/ex1.py", "a2", _day(3), (_result("ex1", {}),)), "0")
        book.store(Attempt("bob", "bob/nb.py", "b1", _day(2), (_result("ex1", {"db2": Kind.SIGN}),
                                                               _result("ex2", {}))), "0")
        book.store(Attempt("cy", "cy/nb.ipynb", "c1", _day(2), (), "could not be read: not JSON"), "0")
    return summarize(read_snapshot(path))


def test_the_class_table_has_each_learners_best_score_and_attempts(report):
    headers, rows = class_rows(report)
    assert headers == ["learner", "ex1", "ex2"]
    assert rows == [["ada", "100% ✓ (2)", "-"], ["bob", "75% (1)", "100% ✓ (1)"], ["cy", "-", "-"]]


def test_the_totals_count_who_attempted_and_who_passed(report):
    headers, rows = totals_rows(report)
    assert headers[:4] == ["exercise", "learners", "passed", "pass rate"]
    assert rows == [["ex1", 2, "1/2", "50%", "87%"], ["ex2", 1, "1/1", "100%", "100%"]]


def test_each_gradient_right_at_once_later_or_never_with_its_own_mistakes(report):
    _, rows = gradient_rows(report, "ex1")
    by_gradient = {row[1]: row for row in rows}
    assert [row[1] for row in rows] == list(GRADIENTS), "backprop order"
    assert by_gradient["dlogits"][2:5] == [2, 0, 0]
    assert by_gradient["dh"][2:5] == [1, 1, 0] and by_gradient["dh"][6] == "transpose 1"
    # dW2 only inherited dh's error: a right step, no mistake of its own to teach again
    assert by_gradient["dW2"][2:5] == [1, 1, 0] and by_gradient["dW2"][6] == "-"
    assert by_gradient["db2"][2:5] == [0, 1, 1] and by_gradient["db2"][6] == "sign 1"
    assert by_gradient["db2"][5] == "#####....." and by_gradient["dlogits"][5] == ".........."


def test_progress_and_history_go_attempt_by_attempt(report):
    headers, rows = progress_rows(report)
    assert headers == ["learner", "attempts", "dates", "ex1 %", "ex2 %"]
    assert rows[0] == ["ada", 2, "2026-10-01 to 10-03", "25→100", "-"]
    ada = report.learner("ada")
    _, history = history_rows(report, ada)
    assert history == [[1, "2026-10-01", "ada/ex1.py", "25%", "-"], [2, "2026-10-03", "ada/ex1.py", "100%", "-"]]
    headers, history = history_rows(report, report.learner("cy"))
    assert headers[-1] == "error" and history[0][-1] == "could not be read: not JSON"


def test_a_learners_view_says_the_first_wrong_step_its_kind_and_the_hint(report):
    view = learner_view(report, report.learner("bob"))
    assert "ex1: 75%" in view and "first wrong step: db2 (sign)" in view and "hint: hint for db2" in view
    assert "ex2: passed" in view


def test_the_csv_and_the_rendered_sections(report):
    rows = list(csv.reader(io.StringIO(to_csv(report))))
    assert rows == [["learner", "ex1", "ex2"], ["ada", "100.0", ""], ["bob", "75.0", "100.0"], ["cy", "", ""]]
    markdown = render(report, markdown=True)
    assert markdown.count("\n### ") == 2 and "| ada " in markdown
    text = render(report, sections=("progress",))
    assert "Progress" in text and "The class" not in text
