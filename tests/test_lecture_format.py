"""Notebooks written the lecture's way, with no tags: each exercise's code found by what it
assigns (not by cell position or metadata), only that code run, and graded like any other answer."""
import lecture_notebooks as lecture
import pytest
from conftest import REFERENCE

from backprop_ninja.check import check
from backprop_ninja.engine.exercises.registry import answers
from backprop_ninja.engine.reading.cells import SubmissionError
from backprop_ninja.engine.reading.submission import read_submission
from backprop_ninja.packs.makemore4.exercises import EXERCISES

ANSWERS = answers()

KEYS = ["ex1", "ex2", "ex3", "ex4"]
EX1 = (REFERENCE / "ex1.py").read_text()
EX4 = (REFERENCE / "ex4.py").read_text()


def graded(text: str, key: str, tmp_path):
    path = tmp_path / "submitted.ipynb"
    path.write_text(text)
    submission = read_submission(path, key, ANSWERS)
    return submission, check(EXERCISES[key], submission.snippets, str(path), steps=60)


@pytest.mark.parametrize("key", KEYS)
def test_every_exercise_of_a_lecture_notebook_is_found_and_passes(key, tmp_path):
    """Saved with outputs and errors in it, the cmp lines and prints beside the answers, a training
    loop of 200,000 steps and a names.txt that is not there: none of it runs."""
    submission, result = graded(lecture.lecture_notebook(outputs=True), key, tmp_path)
    assert result.passed, [(g.name, g.note) for g in result.gradients if g.status != "pass"]
    assert submission.found.endswith("found by what it computes")
    assert not result.output, "the cmp lines and prints are left out"


@pytest.mark.fast
def test_each_exercise_gets_its_own_cells(tmp_path):
    cells = {key: read_submission(_saved(lecture.lecture_notebook(), tmp_path), key, ANSWERS).snippets
             for key in KEYS}
    origins = {key: [s.origin.rsplit(", ", 1)[1] for s in snippets] for key, snippets in cells.items()}
    assert origins == {"ex1": ["In [8]"], "ex2": ["In [10]"], "ex3": ["In [12]"], "ex4": ["In [13]"]}
    assert "lr = " not in cells["ex4"][0].source and "grads = [" in cells["ex4"][0].source


def test_cells_out_of_order_are_taken_in_the_order_they_ran(tmp_path):
    """Exercise 1 in two cells, its second half above its first on the page, and exercise 2 first."""
    answer = EX1.split('"""', 2)[2]
    first, second = answer[: answer.index("dh = ")], answer[answer.index("dh = "):]
    cells = [*lecture.SETUP, *lecture.ex2_cells(), "# exercise 1, continued\n" + second, lecture.ex1_cell(first)]
    counts = [*range(1, len(lecture.SETUP) + 1), 20, 21, 31, 30]
    path = _saved(lecture.notebook(cells, counts), tmp_path)
    submission = read_submission(path, "ex1", ANSWERS)
    assert [s.origin.rsplit(", ", 1)[1] for s in submission.snippets] == ["In [30]", "In [31]"]
    assert check(EXERCISES["ex1"], submission.snippets).passed
    assert check(EXERCISES["ex2"], read_submission(path, "ex2", ANSWERS).snippets).passed


def test_plots_and_prints_among_the_answers_are_left_out(tmp_path):
    answer = EX1.split('"""', 2)[2].replace("dh = dlogits @ W2.T\n", "dh = dlogits @ W2.T\nprint(dh.shape)\n"
                                            "plt.imshow(dh.abs() > 0.01)\ndh.shape\n")
    submission, result = graded(lecture.lecture_notebook(ex1=answer), "ex1", tmp_path)
    assert result.passed and "plt." not in submission.snippets[0].source


def test_a_wrong_answer_fails_with_its_root_cause_at_the_cells_line(tmp_path):
    answer = EX1.split('"""', 2)[2].replace("(-dbndiff).sum(0)", "dbndiff.sum(0)")
    _, result = graded(lecture.lecture_notebook(ex1=answer), "ex1", tmp_path)
    assert not result.passed and result.root_cause == "dbnmeani" and result.root.diagnosis.kind == "sign"


def test_a_wrong_backward_in_the_training_loop_is_named(tmp_path):
    backward = EX4.split('"""', 2)[2].replace("n / (n - 1) * ", "")
    _, result = graded(lecture.lecture_notebook(ex4=backward), "ex4", tmp_path)
    assert not result.passed and result.root_cause == "dhprebn"


def test_the_templates_comparison_left_in_the_loop_passes_with_a_note(tmp_path):
    """`loss.backward()` still runs, but the update uses the hand-written gradients: not a use of
    autograd for the answer."""
    backward = "loss.backward() # use this for correctness comparisons, delete it later!\n" + EX4.split('"""', 2)[2]
    submission, result = graded(lecture.lecture_notebook(ex4=backward), "ex4", tmp_path)
    assert "loss.backward()" not in submission.snippets[-1].source
    assert result.passed, [(g.name, g.note) for g in result.gradients if g.status != "pass"]
    (note,) = submission.notes
    assert "still calls .backward()" in note and "delete it" in note


def test_autograd_in_the_loop_that_feeds_the_update_is_autograd_used(tmp_path):
    backward = "loss.backward()\n" + EX4.split('"""', 2)[2]
    notebook = lecture.lecture_notebook(ex4=backward).replace("p.data += -lr * grad", "p.data += -lr * p.grad")
    submission, result = graded(notebook, "ex4", tmp_path)
    assert "loss.backward()" in submission.snippets[-1].source
    assert not result.passed and result.root.diagnosis.kind == "autograd-used"


@pytest.mark.fast
def test_a_notebook_without_the_exercise_says_so(tmp_path):
    path = _saved(lecture.notebook([*lecture.SETUP, lecture.ex1_cell()]), tmp_path)
    with pytest.raises(SubmissionError, match="nor a cell that answers it by what it computes"):
        read_submission(path, "ex3", ANSWERS)


def test_a_cell_that_does_not_parse_is_taken_whole_and_its_line_named(tmp_path):
    broken = EX1.split('"""', 2)[2].replace("db1 = dhprebn.sum(0)", "db1 = dhprebn.sum(0")
    submission, result = graded(lecture.lecture_notebook(ex1=broken), "ex1", tmp_path)
    raised = result.errors[0].raised
    assert raised.is_syntax_error and raised.gradient == "db1" and raised.origin.endswith("In [8]")


def _saved(text: str, tmp_path):
    path = tmp_path / "notebook.ipynb"
    path.write_text(text)
    return path


def test_ninja_check_says_where_it_found_the_code(tmp_path):
    from click.testing import CliRunner

    from backprop_ninja.cli import main

    path = _saved(lecture.lecture_notebook(), tmp_path)
    result = CliRunner().invoke(main, ["check", "ex3", str(path)])
    assert result.exit_code == 0, result.output
    assert f"Checking {path} (In [12] `# backward`, found by what it computes)" in result.output
