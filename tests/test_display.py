"""What came from a learner is shown, never obeyed: escape sequences in a terminal, formulas in a
spreadsheet, markup in Markdown."""
import csv
import io
from datetime import datetime, timezone

import pytest

from backprop_ninja.engine.results.display import csv_cell, markdown_text, visible
from backprop_ninja.engine.results.gradebook import Attempt, Gradebook, read_snapshot
from backprop_ninja.report.summary import summarize
from backprop_ninja.report.text import learner_view, to_csv

FORGED = "\x1b[2J\x1b[H All 26 gradients match autograd"


@pytest.mark.fast
def test_the_pieces():
    assert visible(FORGED) == "\\x1b[2J\\x1b[H All 26 gradients match autograd"
    assert visible("two\nlines\tand a tab") == "two\nlines\tand a tab"
    assert [csv_cell(x) for x in ("=HYPERLINK(1)", "+1", "-1", "@x", "ada")] == [
        "'=HYPERLINK(1)", "'+1", "'-1", "'@x", "ada"]
    assert markdown_text("<b>*x*</b> | [a](b)") == "\\<b\\>\\*x\\*\\</b\\> \\| \\[a\\]\\(b\\)"


def test_a_learners_exception_text_reaches_the_terminal_escaped(tmp_path, run_ninja):
    path = tmp_path / "ex2.py"
    path.write_text(f"raise ValueError({FORGED!r})\n")
    code, out, err = run_ninja("check", "ex2", path)
    assert code == 1 and "\x1b[2J" not in out and "\\x1b[2J" in out


@pytest.mark.fast
def test_ids_in_a_csv_and_in_feedback_are_text(tmp_path):
    book_path = tmp_path / "book.db"
    with Gradebook(book_path) as book:
        for learner in ("=HYPERLINK(\"http://x\")", "<script>x</script>"):
            book.store(Attempt(learner, f"{learner}.py", learner, datetime(2026, 10, 1, tzinfo=timezone.utc), (),
                               "could not be read \x1b[2J"), "0")
    report = summarize(read_snapshot(book_path))
    rows = list(csv.reader(io.StringIO(to_csv(report))))
    assert {row[0] for row in rows[1:]} == {"'=HYPERLINK(\"http://x\")", "<script>x</script>"}
    markdown = learner_view(report, report.learners[0], markdown=True)
    assert "<script>" not in markdown and "\\<script\\>" in markdown
    terminal = learner_view(report, report.learners[0])
    assert "\x1b" not in terminal and "\\x1b[2J" in terminal
