"""The report's title and the HTML page's attempts per day, from gradebooks written directly (no
grading): the folder the class's submissions came from as the default title, a title given shown and
never obeyed, and one bar per date, labelled with it, however many days."""
from datetime import datetime, timezone

import pytest

from backprop_ninja.engine.results.gradebook import Attempt, Gradebook, read_snapshot
from backprop_ninja.report.html import _attempts, attempts_per_day, render_html
from backprop_ninja.report.summary import summarize
from backprop_ninja.report.text import render
from backprop_ninja.report.title import class_title

pytestmark = pytest.mark.fast


def _at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=timezone.utc)


def _report(tmp_path, attempts: list[tuple[str, str, datetime]]):
    """The report on a gradebook (week4.db) of these (learner, submission, submitted at): none graded."""
    path = tmp_path / "week4.db"
    with Gradebook(path) as book:
        for i, (learner, submission, when) in enumerate(attempts):
            book.store(Attempt(learner, submission, f"content {i}", when, (), "not graded: a test"), "0")
    return summarize(read_snapshot(path))


@pytest.mark.parametrize("submissions, title", [
    ({"ada": "submitted/ada/ex1.py", "bob": "submitted/bob/nb.ipynb"}, "submitted"),
    ({"ada": "/home/ta/course/submitted/ada/backprop/ex1.py"}, "submitted"),  # one learner: not their own folder
    ({"ada": "../submitted/ada/ex1.py", "bob": "../submitted/bob/ex1.py"}, "submitted"),
    ({"ada": "hw3/ada.py", "bob": "hw3/bob.ipynb"}, "hw3"),  # ids from the files' names
    ({"ada": "ada/ex1.py", "bob": "bob/ex1.py"}, "week4.db"),  # `ninja grade .`: the folder has no name here
    ({"ada": "../ada/ex1.py", "bob": "../bob/ex1.py"}, "week4.db"),
    ({"ada": "/a/submitted/ada/ex1.py", "bob": "/b/submitted/bob/ex1.py"}, "week4.db"),  # no folder in common
    ({"ada": "submitted/ada/ex1.py", "bob": "/b/submitted/bob/ex1.py"}, "week4.db"),  # relative and absolute
])
def test_the_default_title_is_the_folder_the_submissions_came_from(tmp_path, submissions, title):
    report = _report(tmp_path, [(learner, path, _at(1)) for learner, path in submissions.items()])
    assert class_title(report) == title
    assert render(report, sections=()) == f"Class report: {title}\n"
    assert f"<title>Class report: {title}</title>" in render_html(report)


def test_a_title_given_is_shown_not_obeyed(tmp_path):
    report = _report(tmp_path, [("ada", "submitted/ada/ex1.py", _at(1))])
    title = "Week 4 <b>#1</b> \x1b[2J"
    assert render(report, sections=(), title=title) == "Class report: Week 4 <b>#1</b> \\x1b[2J\n"
    markdown = render(report, sections=(), markdown=True, title=title)
    assert markdown == "# Class report: Week 4 \\<b\\>\\#1\\</b\\> \\\\x1b\\[2J\n"
    page = render_html(report, title)
    assert "<b>" not in page
    assert page.count("Class report: Week 4 &lt;b&gt;#1&lt;/b&gt;") == 2, "the page's <title> and its heading"


@pytest.mark.parametrize("times, days", [
    # one day, from just after midnight to just before the next: one bar, not hours around a midnight
    ([_at(1, 0, 5), _at(1, 12), _at(1, 23, 55)], [("2026-10-01", 3)]),
    ([_at(2, 9), _at(1, 23, 59), _at(2, 0, 1), _at(5, 9)], [("2026-10-01", 1), ("2026-10-02", 2), ("2026-10-05", 1)]),
])
def test_attempts_per_day_are_a_bar_per_date(tmp_path, times, days):
    report = _report(tmp_path, [(f"l{i % 2}", f"submitted/l{i % 2}/ex1.py", when) for i, when in enumerate(times)])
    assert [(day.isoformat(), n) for day, n in attempts_per_day(report)] == days
    axes = _attempts(report).axes[0]
    assert [bar.get_height() for bar in axes.patches] == [n for _, n in days]
    assert [label.get_text() for label in axes.get_xticklabels()] == [day for day, _ in days], "dates, no hours"
