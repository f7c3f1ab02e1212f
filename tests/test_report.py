"""`ninja report` on a gradebook filled by real grading (`ninja grade` in a subprocess) of a small
class with resubmissions, a broken file and a learner whose id is markup: every format, one
learner's feedback, the feedback files, the HTML page in a real headless browser, and gradebooks
that are missing, empty, old, not ours, or being written."""
import csv
import hashlib
import html
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone

import lecture_notebooks as lecture
import pytest
from conftest import REFERENCE

from backprop_ninja.report.text import percent

STEPS = "30"
EX1_RIGHT = (REFERENCE / "ex1.py").read_text()
EX1_WRONG = EX1_RIGHT.replace("(-dbndiff).sum(0)", "dbndiff.sum(0)")  # dbnmeani's own step wrong
MARKUP = "<i>x|y"  # a learner id (a folder name) that HTML and Markdown must show, not obey


def _submit(root, learner, name, text, day):
    path = root / "submitted" / learner / "backprop" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    stamp = datetime(2026, 10, day, 12, tzinfo=timezone.utc).timestamp()
    os.utime(path, (stamp, stamp))


def _grade(root, db):
    subprocess.run([sys.executable, "-m", "backprop_ninja", "grade", str(root / "submitted"), "--gradebook",
                    str(db), "--steps", STEPS, "--jobs", "2"], cwd=root, capture_output=True, check=False, timeout=600)


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """ada gets ex1 wrong, then right; bob gets it wrong once; cy answers all four in the lecture's
    notebook; the markup learner answers ex2; dee's notebook is not one."""
    root = tmp_path_factory.mktemp("course")
    db = root / "gradebook.db"
    _submit(root, "ada", "ex1.py", EX1_WRONG, 1)
    _submit(root, "bob", "ex1.py", EX1_WRONG, 2)
    _submit(root, "cy", "nb.ipynb", lecture.lecture_notebook(), 3)
    _submit(root, MARKUP, "ex2.py", (REFERENCE / "ex2.py").read_text(), 4)
    _submit(root, "dee", "nb.ipynb", "{not json", 5)
    _grade(root, db)
    _submit(root, "ada", "ex1.py", EX1_RIGHT, 8)
    _grade(root, db)
    return db


@pytest.fixture
def report(book, run_ninja):
    def run(*args):
        return run_ninja("report", "--gradebook", book, *args)
    return run


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_class_at_a_glance(report):
    code, out, _ = report("--section", "class")
    assert code == 0
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith(("ada", "bob", "cy"))}
    assert rows["ada"][:3] == ["100%", "✓", "(2)"], "best of two attempts, passed"
    assert rows["bob"][0] != "100%" and rows["bob"][1] == "(1)"
    assert rows["cy"] == ["100%", "✓", "(1)"] * 4
    totals = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith("ex")}
    assert totals["ex1"][:2] == ["3", "2/3"] and totals["ex4"][:2] == ["1", "1/1"]
    assert all(len(line) <= 100 for line in out.splitlines())


def test_which_gradients_the_class_gets_wrong(report, book):
    code, out, _ = report("--format", "json")
    assert code == 0
    data = json.loads(out)
    ex1 = [g for g in data["gradients"] if g["exercise"] == "ex1"]
    assert [g["gradient"] for g in ex1][:3] == ["dlogprobs", "dprobs", "dcounts_sum_inv"], "backprop order"
    by_name = {g["gradient"]: g for g in ex1}
    logprobs = by_name["dlogprobs"]
    assert (logprobs["first_attempt"], logprobs["eventually"], logprobs["never"]) == (3, 0, 0)
    meani = by_name["dbnmeani"]
    assert (meani["first_attempt"], meani["eventually"], meani["never"]) == (1, 1, 1)
    with sqlite3.connect(book) as db:
        kinds = {k for (k,) in db.execute("SELECT root_kind FROM grades WHERE root_cause = 'dbnmeani'")}
    assert {k["kind"] for k in meani["kinds"]} == kinds and all(k["learners"] == 2 for k in meani["kinds"])
    code, out, _ = report("--section", "gradients")
    line = next(line for line in out.splitlines() if " dbnmeani " in line)
    assert line.split()[2:5] == ["1", "1", "1"] and kinds.pop() in line


def test_progress_and_one_learners_feedback(report, book):
    code, out, _ = report("--section", "progress")
    ada = next(line for line in out.splitlines() if line.startswith("ada"))
    cells = ada.split()
    assert cells[1:5] == ["2", "2026-10-01", "to", "10-08"] and cells[6:] == ["-", "-", "-"]
    first, last = cells[5].split("→")
    assert int(first) < 100 and last == "100", "ex1's score, attempt by attempt"
    code, out, _ = report("--learner", "bob")
    assert code == 0
    with sqlite3.connect(book) as db:
        (result,) = db.execute("SELECT g.result FROM grades g JOIN attempts a ON a.id = g.attempt"
                               " WHERE a.learner = 'bob'").fetchone()
    hint = json.loads(result)["root_hint"]
    assert "First wrong step: dbnmeani" in out and hint and hint in out
    code, out, _ = report("--learner", "ad")
    assert code == 2 and "ada" in out + _


def test_the_csv_has_whole_percents_rounded_down_as_everywhere(report):
    code, out, _ = report("--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["learner"] for r in rows] == sorted(r["learner"] for r in rows)
    by = {r["learner"]: r for r in rows}
    assert by["ada"]["ex1"] == "100" and by["ada"]["ex2"] == "" and int(by["bob"]["ex1"]) < 100
    assert set(rows[0]) == {"learner", "ex1", "ex2", "ex3", "ex4"}


def test_a_scoring_policy_rescores_without_regrading(report):
    """bob's ex1 has one wrong step (dbnmeani) whose error the gradients after it inherit."""
    scores = {}
    for scoring in ("steps", "gradients", "all"):
        out = report("--format", "csv", "--scoring", scoring)[1]
        scores[scoring] = int(next(r for r in csv.DictReader(io.StringIO(out)) if r["learner"] == "bob")["ex1"])
    assert scores["steps"] == 96 and scores["all"] == 0 and 0 < scores["gradients"] < scores["steps"]
    assert "--scoring gradients" in report("--section", "class", "--scoring", "gradients")[1]


def test_points_for_canvas_and_any_lms(report):
    code, out, _ = report("--format", "canvas", "--points", "ex1=40")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and rows[0][:6] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "ex1"]
    assert rows[1][:6] == ["Points Possible", "", "", "", "", "40"] and rows[1][6:] == ["25"] * 3
    ada = next(r for r in rows if r[3] == "ada")
    assert ada[5] == "40.00" and ada[6] == ""  # ada answered no ex2: left ungraded, not 0
    code, out, _ = report("--format", "points")
    plain = {r["learner"]: r for r in csv.DictReader(io.StringIO(out))}
    assert plain["cy"]["total (100)"] == "100.00" and plain["ada"]["ex1 (25)"] == "25.00"
    code, _, err = report("--format", "points", "--points", "ex9=3")
    assert code == 2 and "no exercise ex9" in err and "Traceback" not in err
    code, _, err = report("--format", "table", "--points", "30")
    assert code == 2 and "--points works with --format canvas or points" in err


def test_json_keys_are_stable(report):
    data = json.loads(report("--format", "json")[1])
    assert set(data) == {"schema", "gradebook", "scoring", "exercises", "class", "totals", "gradients", "learners",
                         "similar"}
    assert data["similar"] == [], "bob's wrong ex1 is shared by no one's latest answer"
    ada = next(x for x in data["learners"] if x["learner"] == "ada")
    assert [a["scores"]["ex1"] for a in ada["attempts"]][-1] == 1.0 and len(ada["attempts"]) == 2
    assert set(ada["latest"]["ex1"]) == {"exercise", "score", "passed", "root_cause", "kind", "hint", "found",
                                         "gradients", "stop", "fix"}
    dee = next(x for x in data["learners"] if x["learner"] == "dee")
    assert dee["attempts"][0]["error"] and dee["attempts"][0]["scores"] == {}


def test_a_learner_report_says_where_each_answer_was_found(report):
    code, out, _ = report("--learner", "cy")
    assert code == 0
    assert "Answer: In [8] `# Exercise 1: every gradient by hand`, found by what it computes" in out
    assert "Answer: In [13] `# Exercise 4: train with the backward pass above`, the training loop's backward" in out


def test_markup_in_a_learner_id_is_shown_not_obeyed(report):
    code, out, _ = report("--format", "markdown", "--section", "class")
    assert "\\<i\\>x\\|y" in out, "the markup and the pipe escaped in a Markdown cell"
    code, out, _ = report("--format", "html")
    assert MARKUP not in out and "&lt;i&gt;x|y" in out


def test_feedback_files_one_per_learner(report, tmp_path, book):
    before = _digest(book)
    code, _, err = report("--feedback", tmp_path / "fb")
    assert code == 0 and "Wrote 5 feedback file(s)" in err
    files = sorted(p.name for p in (tmp_path / "fb").iterdir())
    assert files == sorted(["ada.md", "bob.md", "cy.md", "dee.md", "_i_x_y.md"])
    bob = (tmp_path / "fb" / "bob.md").read_text()
    assert bob.startswith("# bob") and "First wrong step: dbnmeani" in bob and "Hint:" in bob
    # the learner's own gradients, status, own step and kind, before the root cause; and a final newline
    assert "| dbnmeani " in bob and "| wrong " in bob and "| inherited " in bob and bob.endswith(".\n")
    dee = (tmp_path / "fb" / "dee.md").read_text()
    assert "No exercise was found in what you handed in" in dee and "not a readable notebook" in dee
    assert _digest(book) == before, "reports never write to the gradebook"


def _browser():
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None and os.environ.get("CI"):
        pytest.fail("CI installs chromium: the HTML report is tested in a real browser")
    if browser is None:
        pytest.skip("no chromium here")
    return browser


def test_the_html_page_in_a_headless_browser(report, tmp_path):
    browser = _browser()
    page = tmp_path / "report.html"
    code, _, _ = report("--format", "html", "--output", page)
    assert code == 0
    chrome = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*chrome, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert dom.count("<img") == 3 and dom.count("<table") >= 7 and "dbnmeani" in dom
    shot = tmp_path / "shot.png"
    subprocess.run([*chrome, f"--screenshot={shot}", "--window-size=1000,2400", page.as_uri()],
                   capture_output=True, timeout=120)
    from matplotlib.image import imread

    pixels = (imread(shot)[:, :, :3] * 255).round().astype(int).reshape(-1, 3).tolist()
    colours = {tuple(p) for p in pixels}
    # The plots were decoded and drawn: the histogram's blue, the first-try green and never red bars.
    assert {(21, 101, 192), (46, 125, 50), (198, 40, 40)} <= colours


# Run in the page once it has loaded: what a reader sees of its title, plots and tables' bars, put in
# the page as JSON for --dump-dom to give back.
PROBE = """<script>addEventListener("load", () => {
  const attempts = [...document.querySelectorAll("h3")].find(h => h.textContent === "Attempts over time");
  const seen = {title: document.title, heading: document.querySelector("h1").textContent,
                markup: document.querySelector("h1").children.length,
                attempts: attempts.nextElementSibling.naturalWidth,
                bars: [...document.querySelectorAll("table .bar")].map(bar => [bar.title,
                  bar.firstElementChild.getBoundingClientRect().width / bar.getBoundingClientRect().width]),
                text: document.body.innerText};
  const out = Object.assign(document.createElement("pre"), {id: "probe", textContent: JSON.stringify(seen)});
  document.body.append(out);
});</script>"""


def _seen(browser, page, tmp_path) -> dict:
    """What PROBE saw of `page` in headless Chromium."""
    probed = tmp_path / f"probed-{page.name}"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'p'}",
                          "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=120).stdout
    return json.loads(html.unescape(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1)))


def test_the_html_pages_title_attempts_plot_and_bars_in_a_browser(report, tmp_path):
    browser = _browser()
    derived, given = tmp_path / "derived.html", tmp_path / "given.html"
    title = "Week 4 <b>&</b> #1"
    assert report("--format", "html", "--output", derived)[0] == 0
    assert report("--format", "html", "--output", given, "--title", title)[0] == 0
    seen, titled = _seen(browser, derived, tmp_path), _seen(browser, given, tmp_path)
    assert seen["title"] == seen["heading"] == "Class report: submitted", "the folder `ninja grade` was given"
    assert titled["title"] == titled["heading"] == f"Class report: {title}"
    assert titled["markup"] == 0, "the title's markup shown, not obeyed"
    assert seen["attempts"] > 0, "the attempts per day plot decoded"
    # A drawn bar per gradient, as wide as its share of learners who never got it right.
    gradients = json.loads(report("--format", "json")[1])["gradients"]
    never = [g["never"] / (g["first_attempt"] + g["eventually"] + g["never"]) for g in gradients]
    assert len(seen["bars"]) == len(never) and any(never)
    for (shown, width), share in zip(seen["bars"], never):
        assert width == pytest.approx(share, abs=0.02) and shown == percent(share)
    assert "#####" not in seen["text"] and "#####" not in derived.read_text()
    assert report("--section", "progress")[1].startswith("Class report: submitted\n")
    markdown = report("--format", "markdown", "--title", title)[1]
    assert markdown.startswith("# Class report: Week 4 \\<b\\>&\\</b\\> \\#1\n")


@pytest.mark.parametrize("content, message", [
    (None, "no gradebook there"),
    (b"", "empty, no grades in it yet"),
    (b"hello, I am not a database" * 100, "not a gradebook"),
    ("old", "written by an older backprop_ninja"),
])
def test_gradebooks_that_cannot_be_reported_on(run_ninja, tmp_path, content, message):
    db = tmp_path / "gradebook.db"
    if content == "old":
        with sqlite3.connect(db) as c:
            c.execute("CREATE TABLE attempts (id INTEGER PRIMARY KEY, learner TEXT)")
    elif content is not None:
        db.write_bytes(content)
    code, out, err = run_ninja("report", "--gradebook", db)
    assert code == 2 and message in err and "Traceback" not in err


def test_read_while_a_grading_run_writes(book, tmp_path, run_ninja):
    """A report taken while `ninja grade` holds a write transaction half-done sees the gradebook as it
    was before it: consistent, and without waiting for it."""
    db = tmp_path / "gradebook.db"
    shutil.copy(book, db)
    expected = run_ninja("report", "--gradebook", db, "--format", "json")[1]
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO attempts (learner, submission, content, grader, submitted_at, graded_at)"
                   " VALUES ('zed', 'x', 'y', 'z', '2026-11-01T00:00:00+00:00', '2026-11-01T00:00:00+00:00')")
    try:
        code, out, _ = run_ninja("report", "--gradebook", db, "--format", "json")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert code == 0 and out == expected


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json", "html"])
def test_a_gradebook_where_nothing_could_be_graded(run_ninja, tmp_path, fmt):
    from backprop_ninja.engine.results.gradebook import Attempt, Gradebook

    db = tmp_path / "gradebook.db"
    with Gradebook(db) as book:
        book.store(Attempt("eve", "eve.ipynb", "c0ffee", datetime(2026, 10, 1, tzinfo=timezone.utc), (),
                           "eve.ipynb: not a readable notebook"), "0")
    code, out, err = run_ninja("report", "--gradebook", db, "--format", fmt)
    assert code == 0, err
    assert "eve" in out
