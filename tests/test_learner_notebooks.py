"""Notebooks written as learners really write them, each reproducing one pattern seen in published
work: graded by what they compute, not by the shape of their cells. Every right answer passes, every
wrong one still fails for its own reason."""
import re
import textwrap

import lecture_notebooks as lecture
from conftest import REFERENCE

from backprop_ninja.check import check
from backprop_ninja.check.render import render
from backprop_ninja.engine.exercises.registry import answers
from backprop_ninja.engine.reading.submission import read_submission, read_submissions
from backprop_ninja.packs.makemore4.exercises import EXERCISES

ANSWERS = answers()
EX1 = (REFERENCE / "ex1.py").read_text().split('"""', 2)[2]
EX2 = (REFERENCE / "ex2.py").read_text().split('"""', 2)[2]
EX3 = (REFERENCE / "ex3.py").read_text().split('"""', 2)[2]
EX4 = (REFERENCE / "ex4.py").read_text().split('"""', 2)[2]


def graded(tmp_path, cells, counts=None, name="learner.ipynb"):
    """Every exercise found in the notebook of these cells, checked as `ninja grade` checks it."""
    path = tmp_path / name
    path.write_text(lecture.notebook([*lecture.SETUP, *cells],
                                     counts and [*range(1, len(lecture.SETUP) + 1), *counts]))
    found = read_submissions(path, ANSWERS)
    return found, {key: check(EXERCISES[key], sub.snippets, str(path), steps=60, reading=sub)
                   for key, sub in found.items()}


def failing(result):
    return [(g.name, g.status, g.note) for g in result.gradients if g.status != "pass"]


def steps_of(source: str) -> list[str]:
    """The answer's statements, one string each (a loop with its body)."""
    lines, steps = source.strip().splitlines(), []
    for line in lines:
        if line.startswith((" ", "\t")) and steps:
            steps[-1] += "\n" + line
        else:
            steps.append(line)
    return steps


def test_the_untouched_template_of_exercise_4_is_not_attempted_and_pulled_into_no_other(tmp_path):
    template = ("dC, dW1, db1, dW2, db2, dbngain, dbnbias = None, None, None, None, None, None, None\n"
                "grads = [dC, dW1, db1, dW2, db2, dbngain, dbnbias]\n")
    loop = (lecture.ex4_cell(template).replace("#loss.backward()", "loss.backward()")
            .replace("p.data += -lr * grad", "p.data += -lr * p.grad"))
    found, results = graded(tmp_path, [lecture.ex1_cell(), loop])
    assert "ex4" not in found
    assert results["ex1"].passed, failing(results["ex1"])


def test_exercise_1_written_cell_by_cell_is_exercise_1_and_exercises_2_and_3_keep_their_cells(tmp_path):
    """One step a cell, among them `dlogits += ...` alone and `dhprebn = dbndiff.clone()` alone, which
    write only the gradient exercises 2 and 3 ask for, from other gradients of exercise 1."""
    cells = steps_of(EX1)
    found, results = graded(tmp_path, [*cells, *lecture.ex2_cells(), *lecture.ex3_cells()])
    assert all(r.passed for r in results.values()), {k: failing(r) for k, r in results.items()}
    assert len(found["ex1"].snippets) == len(cells)
    assert [s.source.strip() for s in found["ex2"].snippets] == [EX2.strip()]
    assert [s.source.strip() for s in found["ex3"].snippets] == [EX3.strip()]


def test_a_stretch_of_exercise_1_that_ends_at_dlogits_or_dhprebn_is_exercise_1(tmp_path):
    """Exercise 1 in two cells, the first ending at dhprebn and computing every gradient before it:
    not exercise 3 in one go."""
    cut = EX1.index("dembcat = ")
    found, results = graded(tmp_path, [EX1[:cut], EX1[cut:]])
    assert set(found) == {"ex1"} and results["ex1"].passed, failing(results["ex1"])


def test_exercise_2_computed_through_helpers_in_its_own_cell(tmp_path):
    through_dlogprobs = ("dlogprobs = torch.zeros_like(logprobs)\ndlogprobs[range(n), Yb] = -1.0 / n\n"
                         "dlogits = dlogprobs + F.softmax(logits, 1) / n\ncmp('logits', dlogits, logits)\n")
    through_ps = "ps = F.softmax(logits, dim=1)\ndlogits = ps.clone()\ndlogits[range(n), Yb] -= 1\ndlogits /= n\n"
    for helper in (through_dlogprobs, through_ps):
        found, results = graded(tmp_path, [lecture.ex1_cell(), helper])
        assert results["ex2"].passed and results["ex1"].passed, failing(results["ex2"])
        assert found["ex2"].snippets[0].source.strip() == helper.replace("\ncmp('logits', dlogits, logits)", "").strip()


def test_exercise_3_sets_its_given_first_and_the_grader_supplies_it(tmp_path):
    for setting in ("dhpreact = hpreact.grad.clone()\n", "dhpreact = dL_dhpreact\n"):
        found, results = graded(tmp_path, [lecture.ex1_cell(), setting + EX3])
        assert results["ex3"].passed, failing(results["ex3"])
        assert "dhpreact supplied by the grader" in results["ex3"].found
        assert "dhpreact is given" in " ".join(results["ex3"].notes)
        assert "dhpreact =" not in found["ex3"].snippets[0].source


def test_a_scratch_cell_run_early_above_the_answer_falls_away(tmp_path):
    scratch = ("dC = torch.zeros_like(C)\nfor k in range(Xb.shape[0]):\n  for j in range(Xb.shape[1]):\n"
               "    ix = Xb[k,j]\n    dC[ix] += demb[k,j]\n")
    found, results = graded(tmp_path, [scratch, lecture.ex1_cell()], counts=[9, 228])
    assert results["ex1"].passed, failing(results["ex1"])
    assert [s.origin.rsplit(", ", 1)[1] for s in found["ex1"].snippets] == ["In [228]"]


def test_a_cell_that_does_not_parse_counts_only_where_the_answer_depends_on_it(tmp_path):
    broken = "dlogits = F.softmax(logits, 1\n"
    _, results = graded(tmp_path, [lecture.ex1_cell(), broken, EX2])
    assert results["ex2"].passed, failing(results["ex2"])
    _, results = graded(tmp_path, [lecture.ex1_cell(), EX2, broken])
    assert not results["ex2"].passed and results["ex2"].errors[0].raised.is_syntax_error


def test_cells_are_read_as_ipython_reads_them(tmp_path):
    """A cell indented as a whole, magics, shell escapes and help run in Jupyter: they are no
    SyntaxError here, and `%time` still runs its statement."""
    answer = "%%time\n" + textwrap.indent(EX1, "    ") + "    !ls\n    torch.tanh?\n"
    ex2 = EX2.replace("dlogits /= n", "%time dlogits /= n")
    found, results = graded(tmp_path, [answer, ex2])
    assert results["ex1"].passed and results["ex2"].passed, (failing(results["ex1"]), failing(results["ex2"]))


def test_the_training_loop_brings_the_lines_and_names_its_backward_needs(tmp_path):
    """The line above the first gradient (`ps`), and the learner's own names from earlier cells (a
    device, a size constant, a helper function) come with the loop's backward pass."""
    helpers = ("device = 'cpu'\nN_EMBD = n_embd\ndef one_hot_rows(Y, width):\n"
               "    return F.one_hot(Y, width).to(device).float()\n")
    backward = EX4.replace("dlogits = F.softmax(logits, 1)\ndlogits[range(n), Yb] -= 1\n",
                           "ps = F.softmax(logits, dim=1)\ndlogits = ps.clone() - one_hot_rows(Yb, ps.shape[1])\n")
    backward = backward.replace("demb.view(-1, demb.shape[-1])", "demb.view(-1, N_EMBD)")
    assert backward != EX4
    found, results = graded(tmp_path, [helpers, lecture.ex4_cell(backward)])
    assert results["ex4"].passed, failing(results["ex4"])
    assert "ps = F.softmax" in found["ex4"].snippets[-1].source and "lr = " not in found["ex4"].snippets[-1].source


def test_a_backward_pass_in_a_function_the_loop_calls(tmp_path):
    function = "def manual_backward():\n" + textwrap.indent(EX4.replace("grads = [", "return ["), "    ")
    found, results = graded(tmp_path, [function, lecture.ex4_cell("grads = manual_backward()\n")])
    assert results["ex4"].passed, failing(results["ex4"])
    assert [s.source.strip().splitlines()[0] for s in found["ex4"].snippets] == ["def manual_backward():",
                                                                                 "grads = manual_backward()"]


def test_a_size_constant_of_the_learners_own_is_that_size_on_every_instance(tmp_path):
    """`BATCH_SIZE = 32` set up once, as the lecture sets `batch_size = 32`, is the batch's size on an
    instance with another batch; `32` written in the answer itself stays a hard-coded size."""
    named = EX2.replace("/= n", "/= BS")
    found, results = graded(tmp_path, ["BS = 32\nEPOCHS = 3", lecture.ex1_cell(), named])
    assert results["ex2"].passed, failing(results["ex2"])
    assert found["ex2"].snippets[0].source.strip() == "BS = n"
    assert "sets BS, your name for the size n" in " ".join(found["ex2"].notes)
    _, results = graded(tmp_path, [lecture.ex1_cell(), EX2.replace("/= n", "/= 32")])
    assert not results["ex2"].passed and "right on the lecture's instance" in results["ex2"].gradients[0].note


def test_the_learners_names_for_the_batch_and_parameters_in_another_case_are_the_graders(tmp_path):
    """`Xb, yb = Xtr[ix], ytr[ix]` in the data cells, which read names.txt: `yb` is the grader's `Yb`."""
    data = "ix = torch.randint(0, Xtr.shape[0], (32,))\nxb, yb = Xtr[ix], Ytr[ix]\nw2 = W2"
    ex1 = EX1.replace("Yb]", "yb]").replace("W2.T", "w2.T")
    ex2 = EX2.replace("Yb]", "yb]")
    found, results = graded(tmp_path, [data, lecture.ex1_cell(ex1), *lecture.ex2_cells(ex2)])
    assert results["ex1"].passed and results["ex2"].passed, (failing(results["ex1"]), failing(results["ex2"]))
    assert found["ex1"].snippets[0].source == "w2 = W2\nyb = Yb\n"
    assert "your yb is the grader's Yb" in found["ex2"].notes


def test_a_gradient_the_training_loop_reads_but_never_computes_fails(tmp_path):
    """The loop reads `demb` left by exercise 1's cell: each step of the learner's run used that stale
    value, so running exercise 1's line again at every step would pass a wrong backward."""
    stale = EX4.replace("demb = dembcat.view(emb.shape)\n", "")
    found, results = graded(tmp_path, [lecture.ex1_cell(), lecture.ex4_cell(stale)])
    assert not results["ex4"].passed
    assert any("demb is read in the training loop but not computed in it" in note for note in found["ex4"].notes)
    assert "demb =" not in "".join(s.source for s in found["ex4"].snippets)


def test_every_training_run_is_the_training_exercises_and_the_last_its_answer(tmp_path):
    """Three runs of the loop (the first stopped early): none of them is taken for exercise 2."""
    loops = [lecture.ex4_cell(steps=10), lecture.ex4_cell(steps=10), lecture.ex4_cell()]
    found, results = graded(tmp_path, [lecture.ex1_cell(), *lecture.ex2_cells(), *loops])
    assert found["ex2"].found.startswith("In [10]") and results["ex2"].passed
    assert found["ex4"].found.startswith("In [13]") and results["ex4"].passed


def test_exercises_2_and_3_answered_in_one_cell_are_each_found(tmp_path):
    both = "# exercises 2 and 3\n" + EX2 + EX3 + "cmp('logits', dlogits, logits)\ncmp('hprebn', dhprebn, hprebn)\n"
    found, results = graded(tmp_path, [lecture.ex1_cell(), both])
    assert set(found) == {"ex1", "ex2", "ex3"} and all(r.passed for r in results.values())
    assert found["ex1"].found.startswith("In [8]") and "In [9]" not in found["ex1"].found
    assert "dhprebn" not in found["ex2"].snippets[0].source and "dlogits" not in found["ex3"].snippets[0].source


def test_a_gradient_assigned_inside_cmp_is_the_answer(tmp_path):
    ex2 = "cmp('logits', dlogits := (F.softmax(logits, 1) - F.one_hot(Yb, logits.shape[1])) / n, logits)\n"
    _, results = graded(tmp_path, [lecture.ex1_cell(), ex2])
    assert results["ex2"].passed, failing(results["ex2"])


def test_gradients_under_the_learners_own_names_are_answered_by_their_cmp_lines(tmp_path):
    names = [g.name for g in EXERCISES["ex1"].gradients]
    own = re.sub(rf"\b({'|'.join(names)})\b", r"dL_\1", EX1)
    checks = "\n".join(f"cmp('{name[1:]}', dL_{name}, {name[1:]})" for name in names)
    found, results = graded(tmp_path, [own + checks + "\n"])
    assert results["ex1"].passed, failing(results["ex1"])


def test_gradients_under_own_names_computed_before_the_cell_raises_are_graded(tmp_path):
    names = [g.name for g in EXERCISES["ex1"].gradients]
    own = re.sub(rf"\b({'|'.join(names)})\b", r"dL_\1", EX1)
    own = own.replace("dL_dC[ix] += dL_demb[k, j]", "dL_dC[ix] += dL_demb[k, 9]")
    checks = "\n".join(f"cmp('{name[1:]}', dL_{name}, {name[1:]})" for name in names)
    _, results = graded(tmp_path, [own + checks + "\n"])
    passed = [g.name for g in results["ex1"].gradients if g.status == "pass"]
    assert passed == names[:-1] and results["ex1"].root_cause == "dC"


def test_a_wrong_answer_under_own_names_still_fails_at_its_step(tmp_path):
    own = EX1.replace("dbnmeani = (-dbndiff).sum(0)", "dL_mean = dbndiff.sum(0)").replace("* dbnmeani", "* dL_mean")
    _, results = graded(tmp_path, [own + "cmp('bnmeani', dL_mean, bnmeani)\n"])
    assert not results["ex1"].passed and results["ex1"].root_cause == "dbnmeani"


def test_a_misspelled_gradient_is_not_computed_and_the_report_names_the_slip(tmp_path):
    slipped = EX1.replace("dlogit_maxes", "dlogits_maxes")
    _, results = graded(tmp_path, [slipped + "cmp('logit_maxes', dlogits_maxes, logit_maxes)\n"])
    result = results["ex1"]
    assert not result.passed
    (missing,) = [g for g in result.gradients if g.status != "pass"]
    assert missing.name == "dlogit_maxes" and missing.written_as == "dlogits_maxes"
    shown = " ".join(render(result).split())
    assert "you wrote dlogits_maxes: did you mean dlogit_maxes?" in shown


def test_cells_are_named_as_the_learner_finds_them(tmp_path):
    found, _ = graded(tmp_path, [lecture.ex1_cell(), *lecture.ex2_cells()], counts=[57, 58, 59])
    assert found["ex1"].found == "In [57] `# Exercise 1: every gradient by hand`, found by what it computes"
    assert found["ex2"].found.startswith("In [59] `# backward`")


def test_autograd_copied_through_a_cmp_line_is_autograd_used(tmp_path):
    _, results = graded(tmp_path, [lecture.ex1_cell(), "cmp('logits', logits.grad, logits)\n"])
    assert not results["ex2"].passed and results["ex2"].root.diagnosis.kind == "autograd-used"


def test_the_last_autograd_copy_of_a_gradient_fails_exercise_1(tmp_path):
    """The hand-written line is right, but the line after it takes autograd's: that is the answer."""
    copied = EX1.replace("dhpreact = (1.0 - h**2) * dh\n", "dhpreact = (1.0 - h**2) * dh\ndhpreact = hpreact.grad\n")
    _, results = graded(tmp_path, [copied])
    assert not results["ex1"].passed and results["ex1"].root.diagnosis.kind == "autograd-used"


def test_a_script_that_ports_the_lecture_is_read_as_cells(tmp_path):
    """The lecture in a .py file: its data, forward pass and autograd's backward, then the learner's
    backward with cmp lines, and `# %%` cells or none."""
    lines = [*lecture.SETUP[:-1], lecture.SETUP[-1].replace("%matplotlib inline", ""),
             lecture.ex1_cell(), *lecture.ex2_cells()]
    for marker in ("", "# %%\n"):
        path = tmp_path / "makemore_part4.py"
        path.write_text("\n".join(marker + cell.replace("%matplotlib inline", "") for cell in lines))
        found = read_submissions(path, ANSWERS)
        assert set(found) == {"ex1", "ex2"}
        for key in found:
            assert check(EXERCISES[key], found[key].snippets, str(path)).passed
        assert read_submission(path, "ex1", ANSWERS).snippets == found["ex1"].snippets
