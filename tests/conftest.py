import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import lecture_notebooks as lecture
import nbformat
import pytest
from click.testing import CliRunner

from backprop_ninja.check.stubs import render_ipynb
from backprop_ninja.cli import main
from backprop_ninja.engine.isolation.threads import use_threads
from backprop_ninja.packs.makemore4.exercises import EXERCISES

# As the command does: torch on one thread, which is several times faster on a busy machine.
use_threads()

REPO = Path(__file__).resolve().parents[1]
# Every worked solution, ex1.py to mlp.py, each the file a learner would hand in (not installed).
REFERENCE = REPO / "reference"


def worked(key: str) -> str:
    """The worked solution of exercise `key`."""
    return (REFERENCE / f"{key}.py").read_text()


def solution_lines() -> dict[str, list[str]]:
    """By exercise key, the lines of its worked solution that give the answer away: those its stub
    does not already say (the forward parts of micrograd's Value, ex4's `grads = [...]`), at least
    10 characters long, so that no short common line stands for a whole solution."""
    from backprop_ninja.check.stubs import render_py
    from backprop_ninja.engine.exercises.registry import exercises

    found = {}
    for path in sorted(REFERENCE.glob("*.py")):
        stub = " ".join(render_py(exercises()[path.stem]).split())
        lines = {line.strip() for line in path.read_text().split('"""', 2)[2].splitlines()}
        found[path.stem] = sorted(line for line in lines if len(line) >= 10 and not line.startswith("#")
                                  and " ".join(line.split()) not in stub)
    return found


@pytest.fixture
def run_ninja():
    """Run the real command in a real subprocess: returns (exit code, stdout, stderr)."""

    def run(*args, cwd=REPO):
        done = subprocess.run([sys.executable, "-m", "backprop_ninja", *map(str, args)],
                              cwd=cwd, capture_output=True, text=True, timeout=300)
        return done.returncode, done.stdout, done.stderr

    return run


@pytest.fixture
def ninja(monkeypatch):
    """The command run in this process, with click's runner: (exit code, stdout, stderr). What the
    command does is the same; only a real process start is left out (`run_ninja` has one)."""

    def run(*args, cwd=REPO):
        monkeypatch.chdir(cwd)
        result = CliRunner().invoke(main, [str(a) for a in args])
        return result.exit_code, result.stdout, result.stderr

    return run


# Training steps of a graded submission's convergence check, in the tests: enough to tell.
STEPS = "30"
EX1_WRONG = (REFERENCE / "ex1.py").read_text().split('"""', 2)[2].replace("(-dbndiff).sum(0)", "dbndiff.sum(0)")


def counts(db) -> tuple[int, int, int]:
    with sqlite3.connect(db) as c:
        return tuple(c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                     for t in ("attempts", "grades", "gradient_grades"))


def attempts_so_far(db) -> int:
    try:
        return counts(db)[0] if db.exists() else 0
    except sqlite3.OperationalError:  # the file is there, its tables not yet
        return 0


@pytest.fixture
def course(tmp_path):
    """submitted/<learner>/backprop/: right, wrong, broken and empty notebooks, our own tagged
    notebook, and a .py answer."""
    root = tmp_path / "submitted"
    files = {
        "alice": ("nb.ipynb", lecture.lecture_notebook(outputs=True)),
        "bob": ("nb.ipynb", lecture.lecture_notebook(ex1=EX1_WRONG)),
        "carol": ("broken.ipynb", "{not json"),
        "dave": ("empty.ipynb", nbformat.writes(nbformat.v4.new_notebook())),
        "erin": ("answer.py", (REFERENCE / "ex2.py").read_text()),
    }
    for learner, (name, text) in files.items():
        (root / learner / "backprop").mkdir(parents=True)
        (root / learner / "backprop" / name).write_text(text)
    ours = nbformat.reads(render_ipynb(EXERCISES["ex3"]), as_version=4)
    next(c for c in ours.cells if "backprop-ninja:ex3" in c.metadata.get("tags", [])).source = \
        (REFERENCE / "ex3.py").read_text()
    (root / "frank" / "backprop").mkdir(parents=True)
    nbformat.write(ours, str(root / "frank" / "backprop" / "ex3.ipynb"))
    return root


@pytest.fixture
def bigger_course(course):
    """The course, and four more right notebooks: work enough to be in the middle of."""
    for i in range(4):
        (course / f"extra{i}" / "backprop").mkdir(parents=True)
        (course / f"extra{i}" / "backprop" / "nb.ipynb").write_text(lecture.lecture_notebook())
    return course


def one_attempt_each(db) -> list[tuple[str, int]]:
    """Each submission in the gradebook with its number of attempts; no grade without its attempt."""
    with sqlite3.connect(db) as c:
        orphans = c.execute("SELECT count(*) FROM grades WHERE attempt NOT IN (SELECT id FROM attempts)").fetchone()
        assert orphans == (0,)
        return c.execute("SELECT submission, count(*) FROM attempts GROUP BY submission").fetchall()


def killed_mid_run_then_resumed(command: list[str], db) -> list[tuple[str, int]]:
    """Run the grading `command`, SIGKILL it once two attempts are stored, run it again to the end:
    what `one_attempt_each` then finds."""
    run = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and attempts_so_far(db) < 2:
        time.sleep(0.2)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert 2 <= counts(db)[0] < 10, "killed mid-run"
    subprocess.run(command, cwd=REPO, capture_output=True, timeout=600)
    return one_attempt_each(db)


def pytest_collection_modifyitems(items):
    """Every test is end to end (`slow`) unless it, or its module, is marked `fast`: a new test is in
    the fast tier only by saying so (`python -m pytest -m "not slow"` runs that tier alone)."""
    for item in items:
        if item.get_closest_marker("fast") is None:
            item.add_marker(pytest.mark.slow)
