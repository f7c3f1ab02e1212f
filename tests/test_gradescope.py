"""grader/run_autograder, run as Gradescope runs it (a real subprocess of the real script) on
submissions laid out as Gradescope lays them out, with the roots overridden: results.json in
Gradescope's format, one test per exercise."""
import json
import os
import subprocess
import sys

import lecture_notebooks as lecture
import pytest
from conftest import REFERENCE, REPO

EX1_WRONG = (REFERENCE / "ex1.py").read_text().replace("(-dbndiff).sum(0)", "dbndiff.sum(0)")


def autograde(tmp_path, files: dict[str, str], *args: str, keys=("ex1", "ex2", "ex3", "ex4")) -> dict:
    submission, results = tmp_path / "autograder" / "submission", tmp_path / "autograder" / "results"
    submission.mkdir(parents=True)
    for name, text in files.items():
        (submission / name).write_text(text)
    done = subprocess.run([str(REPO / "grader" / "run_autograder"), "--submission", str(submission),
                           "--results", str(results), *args], env={**os.environ, "PYTHON": sys.executable},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    payload = json.loads((results / "results.json").read_text())
    assert set(payload) >= {"score", "max_score", "tests", "visibility", "stdout_visibility"}
    assert [t["name"].split(":")[0] for t in payload["tests"]] == list(keys)
    for test in payload["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output", "visibility"}
        assert test["status"] in ("passed", "failed") and 0 <= test["score"] <= test["max_score"]
    assert payload["score"] == pytest.approx(sum(t["score"] for t in payload["tests"]), abs=0.01)
    return payload


def by_exercise(payload):
    return {t["name"].split(":")[0]: t for t in payload["tests"]}


def test_the_lecture_notebook_done_right_scores_full_marks(tmp_path):
    payload = autograde(tmp_path, {"makemore_part4_backprop.ipynb": lecture.lecture_notebook()})
    assert payload["score"] == payload["max_score"] == 100
    assert all(t["status"] == "passed" for t in payload["tests"])
    assert "dlogprobs" in by_exercise(payload)["ex1"]["output"], "the check's table is the output"


def test_wrong_and_missing_exercises_score_what_they_earn(tmp_path):
    payload = by_exercise(autograde(tmp_path, {"ex1.py": EX1_WRONG, "ex2.py": (REFERENCE / "ex2.py").read_text()}))
    ex1 = payload["ex1"]
    assert ex1["status"] == "failed" and 0 < ex1["score"] < ex1["max_score"]
    assert "dbnmeani" in ex1["output"] and "\x1b[" not in ex1["output"], "plain text, no terminal colours"
    assert payload["ex2"]["status"] == "passed" and payload["ex2"]["score"] == payload["ex2"]["max_score"]
    assert payload["ex3"]["score"] == 0 and "not found in your submission" in payload["ex3"]["output"]


@pytest.mark.parametrize("files, reason", [({}, "not found"), ({"nb.ipynb": "{not json"}, "not a readable notebook")])
def test_an_upload_that_cannot_be_graded_scores_zero_and_says_why(tmp_path, files, reason):
    payload = autograde(tmp_path, files)
    assert payload["score"] == 0
    assert all(reason in t["output"] for t in payload["tests"])


def test_another_pack_is_another_assignment(tmp_path):
    from backprop_ninja.packs.bigram import REFERENCE as BIGRAM

    payload = autograde(tmp_path, {"bigram.py": BIGRAM}, "--pack", "bigram", "--points", "10", keys=("bigram",))
    assert payload["score"] == payload["max_score"] == 10
