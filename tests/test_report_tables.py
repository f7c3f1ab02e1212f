"""The report's tables from a gradebook written directly (no grading): who attempted what, their best
scores, which gradients the class gets right at once, later or never and the mistakes made in them,
each learner's progress and history, and the CSV. The fast tier: a real SQLite file, no worker."""
import csv
import io
from datetime import datetime, timezone

import pytest

from backprop_ninja.engine.results.gradebook import Attempt, Gradebook, read_snapshot
from backprop_ninja.engine.results.records import (FAIL, PASS, CheckResult, Comparison, Diagnosis, GradientResult,
                                                   Kind, RootCause, Scoring)
from backprop_ninja.report.html import render_html
from backprop_ninja.report.summary import summarize
from backprop_ninja.report.text import (Share, class_rows, gradient_rows, history_rows, learner_view, progress_rows,
                                        render, to_csv, totals_rows)

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
def book(tmp_path_factory):
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
    return path


@pytest.fixture(scope="module")
def report(book):
    return summarize(read_snapshot(book), Scoring.GRADIENTS)


def test_one_gradebook_scored_by_each_policy(book):
    """ada's first ex1: dh's own step wrong, dW2 and db2 wrong only through it; bob's: db2 wrong."""
    by = {scoring: summarize(read_snapshot(book), scoring) for scoring in Scoring}
    assert by[Scoring.STEPS].learner("ada").trajectory("ex1") == [0.75, 1.0]
    assert by[Scoring.GRADIENTS].learner("ada").trajectory("ex1") == [0.25, 1.0]
    assert by[Scoring.ALL].learner("ada").trajectory("ex1") == [0.0, 1.0]
    assert [row[1] for row in class_rows(by[Scoring.STEPS])[1]] == ["100% ✓ (2)", "75% (1)", "-"]
    assert by[Scoring.STEPS].learner("ada").standings["ex1"].best == 1.0
    assert "own step is right (--scoring steps)" in render(by[Scoring.STEPS], sections=("class",))
    assert by[Scoring.ALL].to_dict()["scoring"] == "all"


def test_the_class_table_has_each_learners_best_score_and_attempts(report):
    headers, rows = class_rows(report)
    assert headers == ["learner", "ex1", "ex2"]
    assert rows == [["ada", "100% ✓ (2)", "-"], ["bob", "75% (1)", "100% ✓ (1)"], ["cy", "-", "-"]]
    assert "Latest files that could not be graded:\n- cy: could not be read: not JSON" in render(report, ("class",))
    from backprop_ninja.report.html import render_html

    assert "<li>cy: could not be read: not JSON</li>" in render_html(report)


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
    # the never share, as a number each format draws as its own bar
    assert by_gradient["db2"][5] == Share(0.5) and by_gradient["dlogits"][5] == Share(0.0)
    terminal = render(report, sections=("gradients",))
    assert " #####..... " in terminal and " .......... " in terminal
    assert "\\#\\#\\#\\#\\#....." in render(report, sections=("gradients",), markdown=True)


def test_the_page_draws_the_shares_as_bars(report):
    page = render_html(report)
    assert "#####" not in page and page.count('<span class="bar" ') == 5, "a bar per gradient of ex1 and ex2"
    assert ('<span class="bar" title="50%" aria-hidden="true"><span style="width: 50.0%"></span></span>50%'
            in page), "as wide as the share, which it says in words too"


def test_progress_and_history_go_attempt_by_attempt(report):
    headers, rows = progress_rows(report)
    assert headers == ["learner", "attempts", "dates", "ex1 %", "ex2 %"]
    assert rows[0] == ["ada", 2, "2026-10-01 to 10-03", "25→100", "-"]
    ada = report.learner("ada")
    _, history = history_rows(report, ada)
    assert history == [[1, "2026-10-01", "ada/ex1.py", "25%", "-"], [2, "2026-10-03", "ada/ex1.py", "100%", "-"]]
    headers, history = history_rows(report, report.learner("cy"))
    assert headers[-1] == "error" and history[0][-1] == "could not be read: not JSON"


def test_a_learners_view_has_their_gradients_then_the_first_wrong_step_its_kind_and_the_hint(report):
    view = learner_view(report, report.learner("bob"))
    assert "ex1: 75%" in view and "First wrong step: db2 (sign)" in view and "Hint: hint for db2" in view
    assert "ex2: passed" in view and view.endswith("\n") and not view.endswith("\n\n")
    rows = [line.split() for line in view.splitlines() if line.startswith(("dlogits", "dh ", "db2"))]
    assert rows == [["dlogits", "pass", "right", "-"], ["dh", "pass", "right", "-"], ["db2", "FAIL", "wrong", "sign"]]
    markdown = learner_view(report, report.learner("bob"), markdown=True)
    assert "### ex1: 75%" in markdown and "| db2 " in markdown and "### ex2: passed" in markdown
    assert "No exercise was found in what you handed in" in learner_view(report, report.learner("cy"))


def test_the_csv_and_the_rendered_sections(report):
    rows = list(csv.reader(io.StringIO(to_csv(report))))
    assert rows == [["learner", "ex1", "ex2"], ["ada", "100", ""], ["bob", "75", "100"], ["cy", "", ""]]
    markdown = render(report, markdown=True)
    assert markdown.count("\n### ") == 2 and "| ada " in markdown
    text = render(report, sections=("progress",))
    assert "Progress" in text and "The class" not in text


def test_why_an_exercise_got_its_score_is_named_beside_it(tmp_path):
    """Out of time on the lecture's instance: the class table and the learner's view say so, not only 0%."""
    from backprop_ninja.engine.results.records import InstanceError, InstanceInfo, Raised, Stop

    raised = Raised("dee/ex2.py", 3, "while True: pass", "TimeLimit: still running after 60 s", stop=Stop.TIME_LIMIT)
    stuck = CheckResult("ex2", "dee/ex2.py", _result("ex2", {"dlogits": Kind.LOCAL}).gradients,
                        (InstanceInfo("lecture", "n=32"),), (InstanceError("lecture", raised),))
    path = tmp_path / "book.db"
    with Gradebook(path) as book:
        book.store(Attempt("dee", "dee/ex2.py", "d1", _day(1), (stuck,)), "0")
    report = summarize(read_snapshot(path))
    assert class_rows(report)[1] == [["dee", "0% out of time (1)"]]
    assert "ex2: 0% (out of time)" in learner_view(report, report.learner("dee"))
    assert report.to_dict()["learners"][0]["latest"]["ex2"]["stop"] == "time-limit"


def test_grades_an_lms_imports_in_points(book):
    """Canvas's gradebook import layout (its five student columns, the learner as SIS login id, the
    points possible on the second row) and a plain points CSV with a total; ex1 out of 40 here."""
    from backprop_ninja.report.lms import CANVAS_COLUMNS, out_of, to_canvas, to_points_csv

    report = summarize(read_snapshot(book), Scoring.STEPS)
    points = out_of(report, {"ex1": 40.0})
    canvas = list(csv.reader(io.StringIO(to_canvas(report, points))))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "ex1", "ex2"]
    assert tuple(canvas[0][:5]) == CANVAS_COLUMNS and canvas[1] == ["Points Possible", "", "", "", "", "40", "25"]
    assert canvas[2:] == [["ada", "", "", "ada", "", "40.00", ""], ["bob", "", "", "bob", "", "30.00", "25.00"],
                          ["cy", "", "", "cy", "", "", ""]]
    plain = list(csv.reader(io.StringIO(to_points_csv(report, points))))
    assert plain[0] == ["learner", "ex1 (40)", "ex2 (25)", "total (65)"]
    assert plain[1:] == [["ada", "40.00", "", "40.00"], ["bob", "30.00", "25.00", "55.00"], ["cy", "", "", "0.00"]]


def test_an_attempt_is_what_a_learner_handed_in_at_one_time(tmp_path):
    """ex1.py and ex2.py handed in together are one attempt; ex1.py changed and handed in again, a second."""
    path = tmp_path / "book.db"
    with Gradebook(path) as book:
        for name, result in (("ex1.py", _result("ex1", {"dh": Kind.SIGN})), ("ex2.py", _result("ex2", {}))):
            book.store(Attempt("eve", f"eve/{name}", name, _day(1), (result,), hand_in="run 1"), "0")
        book.store(Attempt("eve", "eve/ex1.py", "ex1 again", _day(2), (_result("ex1", {}),), hand_in="run 2"), "0")
    eve = summarize(read_snapshot(path)).learner("eve")
    assert [a.files for a in eve.attempts] == [("eve/ex1.py", "eve/ex2.py"), ("eve/ex1.py",)]
    assert [a.scores for a in eve.attempts] == [{"ex1": 0.75, "ex2": 1.0}, {"ex1": 1.0}]
    assert eve.standings["ex1"].attempts == 2 and eve.standings["ex2"].attempts == 1
