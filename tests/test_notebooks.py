"""Notebooks as learners have them: the in-notebook check run in a real kernel, answers that spill
into untagged cells, several tagged cells, and which working copy `ninja check` picks."""
import os

import nbclient
import nbformat
import pytest
from click.testing import CliRunner
from conftest import REFERENCE, worked

from backprop_ninja.check.stubs import render_ipynb
from backprop_ninja.cli import main
from backprop_ninja.engine.exercises.registry import exercises

EXERCISES = exercises()

TAG = "backprop-ninja:{}"


def stub(key: str):
    return nbformat.reads(render_ipynb(EXERCISES[key]), as_version=4)


def answer_cell(notebook, key: str):
    return next(c for c in notebook.cells if TAG.format(key) in c.metadata.get("tags", []))


def execute(notebook, cwd) -> dict:
    """Run every cell in a real kernel started in `cwd`; what the last cell shows, by MIME type."""
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}}).execute()
    (shown,) = notebook.cells[-1].outputs
    return shown["data"]


def test_the_micrograd_notebook_checks_the_class_with_the_imports_of_the_cells_before_it(tmp_path):
    """The lecture imports math in its first cell; its Value cell uses it; what the check runs is that
    cell's class, with that import, and not the experiment after it, which needs a drawing library."""
    notebook = stub("micrograd")
    value = worked("micrograd").replace("import math\n", "")
    answer_cell(notebook, "micrograd").source = value + "\ndraw_dot(Value(2.0) * 3)\n"
    notebook.cells.insert(0, nbformat.v4.new_code_cell("import math\ndef draw_dot(root):\n    return root"))
    shown = execute(notebook, tmp_path)
    assert "All 7 gradients match autograd on all 4 instances" in " ".join(shown["text/plain"].split())


def test_the_stub_notebook_checks_its_own_answer_cell_wherever_it_runs(tmp_path):
    """Run from a folder that holds no notebook file at all, as Colab or nbclient would."""
    notebook = stub("ex2")
    answer_cell(notebook, "ex2").source = (REFERENCE / "ex2.py").read_text()
    shown = execute(notebook, tmp_path)
    text, page = shown["text/plain"], shown["text/html"]
    assert "Checking your answer (In [" in text and "\x1b[" not in text
    assert "dlogits matches autograd on all 4 instances" in " ".join(text.split())
    assert "<table>" in page and "<td style='color: green'>pass</td>" in page
    assert "dlogits matches autograd on all 4 instances" in " ".join(page.split())
    assert os.listdir(tmp_path) == []


def test_check_answer_reads_the_kernels_cells_as_ninja_check_reads_the_saved_notebook(tmp_path):
    """An untagged answer that spills into a second cell, and a scratch cell run before it: the
    in-notebook check and `ninja check` on the saved file find the same answer, and it passes."""
    cells = ['from backprop_ninja import exercise_namespace\nglobals().update(exercise_namespace("ex2"))',
             "dlogits = F.softmax(logits, 1) * undefined_scratch_name",
             "dlogits = F.softmax(logits, 1)\ndlogits[range(n), Yb] -= 1", "dlogits /= n",
             'from backprop_ninja import check_answer\ncheck_answer("ex2")']
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells],
                                        metadata=stub("ex2").metadata)
    notebook.cells[1].metadata["tags"] = ["raises-exception"]  # the scratch cell fails, as it did for the learner
    shown = execute(notebook, tmp_path)
    text = " ".join(shown["text/plain"].split())
    assert "Checking your answer (In [3] `dlogits = F.softmax(logits, 1)`, In [4] `dlogits /= n`" in text
    assert "dlogits matches autograd on all 4 instances" in text
    result = CliRunner().invoke(main, ["check", "ex2", str(write(notebook, tmp_path / "saved.ipynb"))])
    assert result.exit_code == 0 and "dlogits matches autograd on all 4 instances" in " ".join(result.output.split())
    assert "In [3] `dlogits = F.softmax(logits, 1)`, In [4] `dlogits /= n`, found by what it computes" in result.output


def test_the_untouched_stub_notebook_says_where_to_start(tmp_path):
    shown = execute(stub("ex3"), tmp_path)
    assert "0/1 gradients computed yet: start with dhprebn" in shown["text/plain"]
    assert "not computed" in shown["text/html"]


def write(notebook, path):
    nbformat.write(notebook, str(path))
    return path


def test_an_answer_continued_in_an_untagged_cell_is_warned_about(tmp_path):
    notebook = stub("ex2")
    answer_cell(notebook, "ex2").source = "dlogits = F.softmax(logits, 1)\ndlogits[range(n), Yb] -= 1\n"
    notebook.cells.append(nbformat.v4.new_code_cell("dlogits /= n"))
    path = write(notebook, tmp_path / "ex2.ipynb")
    result = CliRunner().invoke(main, ["check", "ex2", str(path)])
    assert result.exit_code == 1
    warning = " ".join(result.stderr.split())
    last = sum(cell.cell_type == "code" for cell in notebook.cells)
    assert f"{path}, code cell {last} `dlogits /= n` assigns dlogits, but is not tagged 'backprop-ninja:ex2'" in warning
    assert "add the tag" in warning


def test_a_helper_in_an_untagged_cell_is_warned_about(tmp_path):
    notebook = stub("ex2")
    notebook.cells.insert(1, nbformat.v4.new_code_cell("def softmax(x):\n    return F.softmax(x, 1)\n"))
    answer_cell(notebook, "ex2").source = "dlogits = softmax(logits)\ndlogits[range(n), Yb] -= 1\ndlogits /= n\n"
    result = CliRunner().invoke(main, ["check", "ex2", str(write(notebook, tmp_path / "ex2.ipynb"))])
    assert result.exit_code == 1
    assert "code cell 1 `def softmax(x):` defines softmax, which your answer calls" in " ".join(result.stderr.split())


def test_a_cell_that_only_uses_the_gradients_is_not_warned_about(tmp_path):
    notebook = stub("ex2")
    answer_cell(notebook, "ex2").source = (REFERENCE / "ex2.py").read_text()
    notebook.cells.append(nbformat.v4.new_code_cell("print(dlogits.shape)\nfrom backprop_ninja import cmp"))
    result = CliRunner().invoke(main, ["check", "ex2", str(write(notebook, tmp_path / "ex2.ipynb"))])
    assert result.exit_code == 0 and result.stderr == ""


def test_several_tagged_cells_run_in_order(tmp_path):
    notebook = stub("ex1")
    lines = (REFERENCE / "ex1.py").read_text().splitlines(keepends=True)
    answer_cell(notebook, "ex1").source = "".join(lines[:12])
    rest = nbformat.v4.new_code_cell("".join(lines[12:]), metadata={"tags": [TAG.format("ex1")]})
    notebook.cells.insert(notebook.cells.index(answer_cell(notebook, "ex1")) + 1, rest)
    result = CliRunner().invoke(main, ["check", "ex1", str(write(notebook, tmp_path / "ex1.ipynb"))])
    assert result.exit_code == 0, result.output


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(main, ["init"]).exit_code == 0
    return tmp_path / "ninja-exercises"


def edit_notebook(path, source):
    notebook = nbformat.read(str(path), as_version=4)
    answer_cell(notebook, path.stem).source = source
    nbformat.write(notebook, str(path))


def test_the_changed_copy_is_checked_not_the_newest(workdir):
    """Jupyter's autosave touches the notebook; that must not change which file is checked."""
    edit_notebook(workdir / "ex2.ipynb", (REFERENCE / "ex2.py").read_text())
    os.utime(workdir / "ex2.py")  # the untouched .py is now the newer file
    result = CliRunner().invoke(main, ["check", "ex2"])
    assert result.exit_code == 0 and "Checking ninja-exercises/ex2.ipynb" in result.output


def test_with_both_copies_changed_the_py_is_checked_and_the_other_named(workdir):
    edit_notebook(workdir / "ex2.ipynb", "dlogits = logits * 0\n")
    (workdir / "ex2.py").write_text((REFERENCE / "ex2.py").read_text())
    os.utime(workdir / "ex2.ipynb")
    result = CliRunner().invoke(main, ["check", "ex2"])
    assert result.exit_code == 0 and "Checking ninja-exercises/ex2.py" in result.output
    assert "ninja-exercises/ex2.ipynb is changed too: `ninja check ex2 ninja-exercises/ex2.ipynb`" in result.stderr
