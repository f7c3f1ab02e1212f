"""What `pip install` puts on a learner's machine: the package, its built-in corpus, not the
worked solutions."""
import subprocess
import sys
import zipfile

from conftest import REPO


def test_the_wheel_carries_the_package_and_its_corpus_but_not_the_answers(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {f"backprop_ninja/{p.name}" for p in (REPO / "backprop_ninja").glob("*.py")}
    assert modules <= names
    assert "backprop_ninja/data/babynames.txt" in names
    assert not any(name.startswith(("reference/", "tests/", "exercises/")) for name in names)
