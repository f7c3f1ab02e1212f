"""What `pip install` puts on a learner's machine: the package, its built-in corpus, not the
worked solutions; and what `ninja check-exercise` says where the package is installed without them."""
import os
import subprocess
import sys
import zipfile

import pytest
from conftest import REPO, solution_lines


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel pip builds from this repository."""
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(folder)], check=True, capture_output=True)
    (built,) = folder.glob("*.whl")
    return built


def test_the_wheel_carries_the_package_and_its_corpus_but_not_the_answers(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {f"backprop_ninja/{p.name}" for p in (REPO / "backprop_ninja").glob("*.py")}
    assert modules <= names
    assert "backprop_ninja/data/babynames.txt" in names
    assert not any(name.startswith(("reference/", "tests/", "exercises/")) for name in names)


def test_no_file_of_the_wheel_holds_a_line_of_any_worked_solution(wheel):
    """Wherever a pack keeps its answers, none of them is installed: not as a file, not as a string."""
    lines = solution_lines()
    assert set(lines) >= {"ex1", "ex2", "ex3", "ex4", "bigram", "mlp", "micrograd"}
    with zipfile.ZipFile(wheel) as archive:
        texts = {name: archive.read(name).decode("utf-8", errors="replace") for name in archive.namelist()}
    leaks = [(key, line, name) for key, solution in lines.items() for line in solution
             for name, text in texts.items() if line in text]
    assert leaks == []


def test_check_exercise_says_the_worked_solutions_are_not_installed(wheel, tmp_path):
    """Installed from the wheel, away from the repository: a clear message, no traceback."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run([sys.executable, "-c", "import backprop_ninja; print(backprop_ninja.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(target)), "the installed copy, not the repository's"
    done = subprocess.run([sys.executable, "-m", "backprop_ninja", "check-exercise", "bigram"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stdout + done.stderr, done.stderr
    assert "pack 'bigram': its worked solutions are not installed" in done.stderr
    assert "bigram.py not found" in " ".join(done.stderr.split())
