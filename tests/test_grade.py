"""`ninja grade` on a class: real notebooks in nbgrader's layout and plain folders, real worker
processes, a real SQLite gradebook; idempotent, resumable after kill -9, and never stopped by one
bad submission."""
import json
import os
import subprocess
import sys

import pytest

import lecture_notebooks as lecture
from conftest import EX1_WRONG, REFERENCE, STEPS, counts, killed_mid_run_then_resumed

from backprop_ninja.engine.results.gradebook import Gradebook
from backprop_ninja.grade import learner_of


def test_a_class_is_graded_into_the_gradebook(ninja, course, tmp_path):
    db = tmp_path / "book.db"
    code, out, err = ninja("grade", course, "--gradebook", db, "--steps", STEPS, "--json")
    assert code == 1, "two submissions could not be graded"
    graded = {g["learner"]: g for g in json.loads(out)}
    assert set(graded) == {"alice", "bob", "carol", "dave", "erin", "frank"}
    assert [r["exercise"] for r in graded["alice"]["results"]] == ["ex1", "ex2", "ex3", "ex4"]
    assert all(r["passed"] for r in graded["alice"]["results"])
    bob = {r["exercise"]: r for r in graded["bob"]["results"]}
    assert not bob["ex1"]["passed"] and bob["ex1"]["root_cause"] == "dbnmeani" and bob["ex2"]["passed"]
    assert "not a readable notebook" in graded["carol"]["error"]
    assert "no exercise found" in graded["dave"]["error"]
    assert [r["exercise"] for r in graded["erin"]["results"]] == ["ex2"] and graded["erin"]["results"][0]["passed"]
    assert [r["exercise"] for r in graded["frank"]["results"]] == ["ex3"]
    assert counts(db) == (6, 4 + 4 + 1 + 1, 2 * (26 + 1 + 1 + 7) + 1 + 1)
    assert "[6/6]" in err
    with Gradebook(db) as book:
        stored = {(who, r.exercise): r for who, _, r in book.results()}
    assert json.loads(json.dumps(stored[("bob", "ex1")].to_dict())) == bob["ex1"]


def test_grading_again_grades_nothing_twice(ninja, course, tmp_path):
    db = tmp_path / "book.db"
    ninja("grade", course, "--gradebook", db, "--steps", STEPS)
    before = counts(db)
    code, out, _ = ninja("grade", course, "--gradebook", db, "--steps", STEPS)
    assert code == 1 and counts(db) == before
    # each submission counted once: the two that could not be graded are not also "graded before"
    assert "6 submissions: 0 graded now, 4 graded before, 2 could not be graded" in out


def test_no_submissions_is_bad_input_and_writes_no_gradebook(ninja, tmp_path):
    (tmp_path / "empty").mkdir()
    code, out, err = ninja("grade", tmp_path / "empty", "--gradebook", tmp_path / "book.db")
    assert code == 2 and "no submissions in" in err and not (tmp_path / "book.db").exists()


def test_a_changed_resubmission_is_a_new_attempt(ninja, course, tmp_path):
    db = tmp_path / "book.db"
    ninja("grade", course / "bob", "--gradebook", db, "--steps", STEPS)
    (course / "bob" / "backprop" / "nb.ipynb").write_text(lecture.lecture_notebook())
    ninja("grade", course / "bob", "--gradebook", db, "--steps", STEPS)
    with Gradebook(db) as book:
        ex1 = [r.passed for who, _, r in book.results("bob") if r.exercise == "ex1"]
    assert ex1 == [False, True], "both attempts kept, the old first"


def test_killed_mid_run_it_loses_and_duplicates_nothing(bigger_course, tmp_path):
    db = tmp_path / "book.db"
    command = [sys.executable, "-m", "backprop_ninja", "grade", str(bigger_course), "--gradebook", str(db),
               "--steps", "300", "--jobs", "1"]
    per_file = killed_mid_run_then_resumed(command, db)
    assert len(per_file) == 10 and all(n == 1 for _, n in per_file)


@pytest.mark.fast
def test_who_a_file_is_from(tmp_path):
    nbgrader = tmp_path / "course" / "submitted" / "alice" / "ps1" / "backprop.ipynb"
    plain = tmp_path / "inbox" / "bob_ex1.ipynb"
    assert learner_of(nbgrader) == "alice"
    assert learner_of(plain) == "bob_ex1"
    assert learner_of(plain, "folder") == "inbox" and learner_of(nbgrader, "stem") == "backprop"


def test_bad_input_exits_2(ninja, tmp_path):
    code, _, err = ninja("grade", tmp_path / "nowhere", cwd=tmp_path)
    assert code == 2 and "no such file or folder" in err and "Traceback" not in err
    assert not (tmp_path / "gradebook.db").exists(), "bad input creates no gradebook"
    (tmp_path / "not.db").write_text("this is not sqlite, it is text " * 100)
    (tmp_path / "a.py").write_text((REFERENCE / "ex2.py").read_text())
    code, _, err = ninja("grade", tmp_path / "a.py", "--gradebook", tmp_path / "not.db")
    assert code == 2 and "not a gradebook" in err


def test_without_bubblewrap_auto_warns_and_goes_on_and_bwrap_refuses(tmp_path):
    answer = tmp_path / "ex2.py"
    answer.write_text((REFERENCE / "ex2.py").read_text())
    no_bwrap = {**os.environ, "PATH": str(tmp_path / "empty")}  # nothing on it: no bwrap, no setpriv

    def grade(*args):
        return subprocess.run([sys.executable, "-m", "backprop_ninja", "grade", str(answer), *args], cwd=tmp_path,
                              env=no_bwrap, capture_output=True, text=True, timeout=300)

    auto = grade("--gradebook", str(tmp_path / "auto.db"))
    assert auto.returncode == 0 and "Warning: bubblewrap (bwrap) is not installed" in auto.stderr
    assert "1 graded now" in auto.stdout
    strict = grade("--gradebook", str(tmp_path / "strict.db"), "--sandbox", "bwrap")
    assert strict.returncode == 2 and "the bubblewrap sandbox does not work here" in strict.stderr
    assert "Traceback" not in strict.stderr and not (tmp_path / "strict.db").exists()


def test_every_scored_run_of_a_file_comes_before_any_diagnosis_run(tmp_path, monkeypatch):
    """A diagnosis hands the worker right values: nothing that scores the same file may run after
    one. Exercise 1 is wrong (it is diagnosed), and exercises 2 to 4 come after it in the file."""
    import backprop_ninja.engine.judging.verdict as checking
    from backprop_ninja.grade import grade_one

    order: list[str] = []
    for name, log in (("run_trial", "scored"), ("check_convergence", "scored"), ("diagnose", "diagnosed")):
        real = getattr(checking, name)
        monkeypatch.setattr(checking, name, lambda *a, _real=real, _log=log, **k: order.append(_log) or _real(*a, **k))
    path = tmp_path / "nb.ipynb"
    path.write_text(lecture.lecture_notebook(ex1=EX1_WRONG))
    graded = grade_one(path, "bob", int(STEPS))
    assert [r.exercise for r in graded.results] == ["ex1", "ex2", "ex3", "ex4"], graded.error
    assert not graded.results[0].passed and all(r.passed for r in graded.results[1:])
    assert order.count("scored") == 5 and "diagnosed" in order  # four trials, ex4's training
    assert order.index("diagnosed") > max(i for i, what in enumerate(order) if what == "scored")


def test_a_fault_of_the_checker_on_one_file_is_that_files_grade_not_the_runs_end(tmp_path, monkeypatch):
    import backprop_ninja.engine.judging.verdict as checking
    from backprop_ninja.grade import grade_one

    def failing(*args, **kwargs):
        raise OverflowError("cannot convert float infinity to integer")

    monkeypatch.setattr(checking, "run_trial", failing)
    path = tmp_path / "nb.ipynb"
    path.write_text(lecture.lecture_notebook())
    graded = grade_one(path, "alice", int(STEPS))
    assert graded.results == () and "could not be graded" in graded.error and "OverflowError" in graded.error
