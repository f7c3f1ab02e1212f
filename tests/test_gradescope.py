"""grader/run_autograder, run as Gradescope runs it (a real subprocess of the real script) on
submissions laid out as Gradescope lays them out, with the roots overridden: results.json in
Gradescope's format, one test per exercise; where the sandbox does not work, or there is no upload at all,
no grading, with score 0 and why; and grader/setup.sh, which builds the environment run_autograder grades in."""
import json
import os
import re
import shutil
import subprocess
import sys

import lecture_notebooks as lecture
import pytest
from conftest import REFERENCE, REPO, worked

from backprop_ninja.engine.isolation.sandbox import WORKDIR, find

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
    # one wrong step of 26 (dbnmeani), the gradients after it inheriting it: 25 own steps right, rounded down
    assert ex1["status"] == "failed" and ex1["score"] == 24.03
    assert "dbnmeani" in ex1["output"] and "\x1b[" not in ex1["output"], "plain text, no terminal colours"
    assert payload["ex2"]["status"] == "passed" and payload["ex2"]["score"] == payload["ex2"]["max_score"]
    assert payload["ex3"]["score"] == 0 and "not found in your submission" in payload["ex3"]["output"]


def test_the_instructor_chooses_how_a_score_is_counted(tmp_path):
    payload = by_exercise(autograde(tmp_path, {"ex1.py": EX1_WRONG}, "--scoring", "all"))
    assert payload["ex1"]["score"] == 0 and payload["ex1"]["status"] == "failed"


@pytest.mark.parametrize("files, reason", [({"answers.txt": "dlogprobs = ...\n"}, "not found"),
                                           ({"nb.ipynb": "{not json"}, "not a readable notebook")])
def test_an_upload_that_cannot_be_graded_scores_zero_and_says_why(tmp_path, files, reason):
    payload = autograde(tmp_path, files)
    assert payload["score"] == 0
    assert all(reason in t["output"] for t in payload["tests"])


@pytest.mark.parametrize("how", ["missing", "empty"])
def test_no_upload_at_all_is_an_error_that_says_so_never_a_silent_zero(tmp_path, how):
    submission, results = tmp_path / "autograder" / "submission", tmp_path / "autograder" / "results"
    if how == "empty":
        (submission / "folder").mkdir(parents=True)  # a folder in it, but no file
    done = subprocess.run([str(REPO / "grader" / "run_autograder"), "--submission", str(submission),
                           "--results", str(results)], env={**os.environ, "PYTHON": sys.executable},
                          capture_output=True, text=True, timeout=600)
    reason = f"the submission folder {submission} is {how}"
    assert done.returncode == 2 and reason in done.stderr, done.stderr
    payload = json.loads((results / "results.json").read_text())  # what Gradescope shows the learner
    assert payload["score"] == 0 and payload["max_score"] == 100 and payload["tests"] == []
    assert payload["visibility"] == "visible" and payload["output"].startswith(f"Not graded: {reason}")


def test_another_pack_is_another_assignment(tmp_path):
    payload = autograde(tmp_path, {"bigram.py": worked("bigram")}, "--pack", "bigram", "--points", "10",
                        keys=("bigram",))
    assert payload["score"] == payload["max_score"] == 10


def run_autograder(tmp_path, files: dict[str, str], *args: str, path: str | None = None):
    """grader/run_autograder as Gradescope runs it, with PATH as given: (the run, results.json)."""
    submission, results = tmp_path / "autograder" / "submission", tmp_path / "autograder" / "results"
    submission.mkdir(parents=True)
    for name, text in files.items():
        (submission / name).write_text(text)
    env = {**os.environ, "PYTHON": sys.executable, "PATH": path or os.environ["PATH"]}
    done = subprocess.run([shutil.which("bash"), str(REPO / "grader" / "run_autograder"), "--submission",
                           str(submission), "--results", str(results), *args], env=env,
                          capture_output=True, text=True, timeout=600)
    return done, json.loads((results / "results.json").read_text())


def path_without_a_working_bwrap(tmp_path, how: str) -> str:
    """A PATH on which bubblewrap is missing, or there but refused the namespaces it makes, as in a
    container that does not allow them."""
    folder = tmp_path / "bin"
    folder.mkdir()
    if how == "missing":
        return str(folder)
    bwrap = folder / "bwrap"
    bwrap.write_text("#!/bin/sh\necho 'bwrap: No permissions to create a new namespace' >&2\nexit 1\n")
    bwrap.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


@pytest.mark.parametrize("how, reason", [("missing", "bubblewrap (bwrap) is not installed"),
                                         ("refused", "No permissions to create a new namespace")])
def test_where_the_sandbox_does_not_work_nothing_is_graded_and_results_say_why(tmp_path, how, reason):
    ran = tmp_path / "ran"
    right = f"open({str(ran)!r}, 'w').write('ran')\n" + worked("ex2")
    done, payload = run_autograder(tmp_path, {"ex2.py": right}, path=path_without_a_working_bwrap(tmp_path, how))
    assert done.returncode == 0, done.stderr  # the autograder ran: Gradescope reads its results
    assert payload["score"] == 0 and payload["tests"] == [] and payload["visibility"] == "visible"
    assert payload["output"].startswith("Not graded") and reason in payload["output"]
    assert reason in done.stderr and not ran.exists(), "none of the upload's code ran"


def test_an_instructor_s_own_trial_may_grade_without_the_sandbox(tmp_path):
    path = path_without_a_working_bwrap(tmp_path, "missing")
    done, payload = run_autograder(tmp_path, {"ex2.py": worked("ex2")}, "--sandbox", "none", path=path)
    assert done.returncode == 0 and "Warning" in done.stderr, done.stderr
    assert by_exercise(payload)["ex2"]["status"] == "passed" and payload["score"] == 25


def test_where_the_sandbox_works_the_upload_is_graded_inside_it(tmp_path):
    if find("auto")[0] is None:
        pytest.skip(f"bubblewrap does not work here: {find('auto')[1]}")
    done, payload = run_autograder(tmp_path, {"ex2.py": "import os\nprint('working in', os.getcwd())\n"
                                                        + worked("ex2")})
    assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr
    ex2 = by_exercise(payload)["ex2"]
    assert ex2["status"] == "passed" and f"working in {WORKDIR}" in ex2["output"]


def test_setup_sh_installs_into_a_virtual_environment_that_run_autograder_grades_with(tmp_path):
    """grader/setup.sh as Gradescope runs it, with the environment in a scratch folder and the wheel the README's
    zip holds: no pip install into the system's Python, which current images refuse (PEP 668). Run twice, as it
    must be able to be; then run_autograder, told only where that environment is."""
    if shutil.which("dpkg") is None or subprocess.run(["dpkg", "-s", "python3", "python3-venv", "bubblewrap"],
                                                      capture_output=True).returncode != 0:
        pytest.skip("setup.sh's apt packages are not all installed here: it would run apt-get")
    (pinned,) = re.findall(r"^torch==(\S+)$", (REPO / "constraints.txt").read_text(), re.MULTILINE)
    dist, venv = tmp_path / "dist", tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(dist)], check=True, capture_output=True)
    (wheel,) = dist.glob("*.whl")
    # As on Gradescope, no Python of ours and no package from elsewhere on the path. An index that cannot be
    # reached is tried once, not five times: pip goes on to the others it knows.
    env = {**{k: v for k, v in os.environ.items() if k not in ("PYTHON", "PYTHONPATH")},
           "BACKPROP_NINJA_VENV": str(venv), "BACKPROP_NINJA_PACKAGE": str(wheel), "PIP_RETRIES": "0"}
    for _ in range(2):
        done = subprocess.run(["bash", str(REPO / "grader" / "setup.sh")], env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr
        assert f"torch {pinned}+cpu" in done.stdout, "torch's CPU build, at constraints.txt's pin"
    version = subprocess.run([str(venv / "bin" / "ninja"), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("backprop_ninja, version")
    submission, results = tmp_path / "autograder" / "submission", tmp_path / "autograder" / "results"
    submission.mkdir(parents=True)
    (submission / "ex2.py").write_text(worked("ex2"))
    graded = subprocess.run([str(REPO / "grader" / "run_autograder"), "--submission", str(submission), "--results",
                             str(results), "--sandbox", "auto"], env=env, capture_output=True, text=True, timeout=600)
    assert graded.returncode == 0, graded.stderr
    assert by_exercise(json.loads((results / "results.json").read_text()))["ex2"]["status"] == "passed"
