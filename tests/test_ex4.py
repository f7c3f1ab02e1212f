"""Exercise 4: the gradient check along a training run, the convergence check, and `ninja train`."""
import dataclasses
import json

import pytest
from conftest import REFERENCE
from test_check import random_instances

from backprop_ninja.check import check
from backprop_ninja.check.stubs import render_py
from backprop_ninja.engine.reading.cells import Snippet
from backprop_ninja.grade import GRADE_STEPS
from backprop_ninja.packs.makemore4.exercises import EX4

REFERENCE_EX4 = (REFERENCE / "ex4.py").read_text()
STEPS = 600


def run(source: str, steps: int = STEPS):
    return check(EX4, (Snippet(source, "ex4.py"),), steps=steps)


def statuses(result):
    return {g.name: g.status for g in result.gradients}


def mutate(old: str, new: str) -> str:
    assert REFERENCE_EX4.count(old) == 1, old
    return REFERENCE_EX4.replace(old, new)


@pytest.fixture(scope="module")
def reference_result():
    return run(REFERENCE_EX4)


def test_reference_passes_both_parts(reference_result):
    result = reference_result
    assert result.passed and result.score == 1.0
    assert set(statuses(result).values()) == {"pass"}
    assert {c.status for g in result.gradients for c in g.instances} == {"pass"}
    c = result.convergence
    assert c.passed and c.steps == STEPS and c.max_gap < 1e-4
    assert c.start_loss > 3.3 and c.learner_end < c.start_loss - 0.8


def test_reference_never_fails_at_other_points_seeds_and_sizes():
    exercise = dataclasses.replace(EX4, instances=random_instances(
        8, seed=11, lecture=EX4.instances[0], vary_vocab=False, max_steps=60))
    result = check(exercise, (Snippet(REFERENCE_EX4, "ex4.py"),), steps=10)
    failing = [(g.name, i.describe()) for g in result.gradients for c, i in zip(g.instances, exercise.instances)
               if c.status != "pass"]
    assert failing == []


def test_the_lectures_grads_list_alone_is_enough():
    source = REFERENCE_EX4 + "\ndC = dW1 = db1 = dW2 = db2 = dbngain = dbnbias = None\n"
    assert run(source).passed


GRADS = "grads = [dC, dW1, db1, dW2, db2, dbngain, dbnbias]"

# A `grads` list that disagrees with the named gradients: (case, list, failing gradients, words).
DISAGREEING_LISTS = [
    ("two entries swapped", "grads = [dC, dW1, db1, dW2, db2, dbnbias, dbngain]", {"dbngain", "dbnbias"},
     "grads[5] holds dbnbias where the lecture's parameter order has bngain"),
    ("one left out", "grads = [dC, dW1, dW2, db2, dbngain, dbnbias]", {"db1", "dW2", "db2", "dbngain", "dbnbias"},
     "grads leaves out db1, so from grads[2] on"),
    ("one from another tensor", "grads = [dC, dW1, db1, dW2, db2, dbngain, dhpreact.mean(0, keepdim=True)]",
     {"dbnbias"}, "grads[6] is not your dbnbias"),
    ("one too many", "grads = [dC, dW1, db1, dW2, db2, dbngain, dbnbias, dbnbias]", {"dbnbias"},
     "grads has 8 entries for the 7 parameters"),
]


@pytest.mark.parametrize("case, grads, failing, words", DISAGREEING_LISTS, ids=[d[0] for d in DISAGREEING_LISTS])
def test_a_grads_list_that_disagrees_with_the_names_fails_and_says_how(case, grads, failing, words):
    result = run(mutate(GRADS, grads), steps=20)
    assert not result.passed
    assert {name for name, status in statuses(result).items() if status != "pass"} == failing
    assert result.root_cause == "grads" and result.root.diagnosis.kind == "grads-list"
    assert words in result.root.diagnosis.message


@pytest.mark.parametrize("grads", [
    "grads = [dC, dW1, db1, dW2, db2, dbngain, dbnbias.clone()]",
    "grads = [dC, dW1, db1, dW2, db2, dbngain, dhpreact.sum(0)]",  # the same values, by leading 1s
    "grads = (dC, dW1, db1, dW2, db2, dbngain, dbnbias)",
])
def test_a_grads_list_that_agrees_with_the_names_passes(grads):
    assert run(mutate(GRADS, grads), steps=20).passed


def test_the_grads_list_is_what_trains():
    """Named gradients all right, the list swapped: training follows the list, and drifts."""
    result = run(mutate(GRADS, "grads = [dC, dW1, db1, dW2, db2, dbnbias, dbngain]"))
    assert not result.convergence.passed


def test_dropped_bessel_factor_names_the_parameters_it_reaches_and_the_step_behind_them():
    result = run(mutate("n / (n - 1) * ", ""))
    s = statuses(result)
    assert s["dW1"] == "fail" and s["dC"] == "fail"
    assert [s[n] for n in ("dW2", "db2", "dbngain", "dbnbias")] == ["pass"] * 4
    assert not result.passed
    assert result.root_cause == "dhprebn" and not result.root.graded
    grads = {g.name: g for g in result.gradients}
    assert grads["dW1"].diagnosis.message == "inherits the error in dhprebn"


def test_dropping_repeated_indices_fails_dc_only():
    result = run(mutate("dC = torch.zeros_like(C).index_add_(0, Xb.view(-1), demb.view(-1, demb.shape[-1]))",
                        "dC = torch.zeros_like(C)\ndC[Xb] += demb"))
    assert [name for name, status in statuses(result).items() if status != "pass"] == ["dC"]
    assert not result.passed
    assert result.root_cause == "dC" and result.root.diagnosis.kind == "duplicate-index"


def test_right_but_halved_fails_the_gradient_check_first_and_drifts_in_training(ninja, tmp_path):
    halved = tmp_path / "ex4.py"
    halved.write_text(mutate(GRADS,
                             "dC, dW1, db1, dW2, db2, dbngain, dbnbias = "
                             "(0.5 * g for g in (dC, dW1, db1, dW2, db2, dbngain, dbnbias))"))
    code, out, _ = ninja("check", "ex4", halved, "--steps", str(STEPS))
    assert code == 1
    assert "The gradient check catches it first; training with them fails too." in " ".join(out.split())
    result = run(mutate(GRADS,
                        "dC, dW1, db1, dW2, db2, dbngain, dbnbias = "
                        "(0.5 * g for g in (dC, dW1, db1, dW2, db2, dbngain, dbnbias))"))
    assert statuses(result)["dW2"] == "fail"
    assert not result.convergence.passed and "drifts away" in result.convergence.reason


def test_a_backward_that_uses_autograd_fails_for_that_reason():
    source = ("params = [C, W1, b1, W2, b2, bngain, bnbias]\n"
              "with torch.enable_grad():\n"
              "    for p in params: p.requires_grad_()\n"
              "    loss = F.cross_entropy(torch.tanh(bngain * ((C[Xb].view(n, -1) @ W1 + b1) - 0) + bnbias) @ W2 + b2,"
              " Yb)\n"
              "    loss.backward()\n"
              "grads = [p.grad for p in params]\n")
    result = run(source, steps=20)
    assert not result.passed
    assert all("autograd" in g.note for g in result.gradients)
    assert result.errors[0].raised.exception.startswith("AutogradUsed")
    assert not result.convergence.passed and "AutogradUsed" in result.convergence.reason


def test_catching_the_autograd_refusal_does_not_help():
    source = REFERENCE_EX4 + ("try:\n    torch.ones(1, requires_grad=True).sum().backward()\n"
                              "except Exception:\n    pass\n")
    result = run(source, steps=20)
    assert not result.passed and all(g.status == "fail" for g in result.gradients)


def test_untouched_stub_fails_cleanly():
    result = run(render_py(EX4), steps=20)
    assert set(statuses(result).values()) == {"missing"} and not result.errors
    assert not result.convergence.passed and "not computed" in result.convergence.reason


def test_ninja_train_runs_the_whole_exercise_on_a_small_file(ninja, tmp_path):
    words = tmp_path / "few.txt"
    words.write_text("\n".join(["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia"] * 30) + "\n")
    code, out, err = ninja("train", REFERENCE / "ex4.py", "--steps", "300", "--data", words,
                               "--samples", "5", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["steps"] == 300 and len(result["samples"]) == 5
    assert all(s.endswith(".") for s in result["samples"])
    assert result["train_loss"] < 2.0, "seven names repeated: the model learns them quickly"
    assert "steps/s" in err and "left" in err


def test_ninja_train_rejects_bad_data_and_missing_backward(ninja, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("emma\nJo\n")
    code, _, err = ninja("train", "--autograd", "--data", bad, "--steps", "5")
    assert code == 2 and "characters outside a-z" in err and "Traceback" not in err
    code, _, err = ninja("train", "--steps", "5", cwd=tmp_path)
    assert code == 2 and "no working copy of ex4" in err


@pytest.mark.parametrize("source, words", [
    ("x = 1 / 0\n", "Training stopped at step 0: your code raised at"),
    ("import os\nos._exit(3)\n", "Training stopped at step 0: your code ended the process"),
    ("dC = (\n", "Training stopped at step 0: your code does not parse"),
])
def test_ninja_train_says_where_a_backward_stops_it(ninja, tmp_path, source, words):
    mine = tmp_path / "ex4.py"
    mine.write_text(source)
    code, _, err = ninja("train", mine, "--steps", "50", "--samples", "0")
    assert code == 1 and words in err and "Traceback" not in err


# (old, new, whether its training drifts from autograd's): the same at 2,000 steps as at 100.
WRONG_BACKWARDS = {
    "every gradient halved": (GRADS, "dC, dW1, db1, dW2, db2, dbngain, dbnbias = "
                                     "(0.5 * g for g in (dC, dW1, db1, dW2, db2, dbngain, dbnbias))", True),
    "the grads list swapped": (GRADS, "grads = [dC, dW1, db1, dW2, db2, dbnbias, dbngain]", True),
    "dW2 scaled": ("dW2 = h.T @ dlogits", "dW2 = (dlogits.T @ h).T * 1.5", True),
    # 3% off in dW1, db1 and dC: training cannot tell, only the gradients can.
    "Bessel's factor dropped": ("n / (n - 1) * ", "", False),
}


@pytest.mark.parametrize("case", WRONG_BACKWARDS, ids=list(WRONG_BACKWARDS))
def test_wrong_backwards_fail_with_the_short_training_of_grading(case):
    """`ninja grade` trains for GRADE_STEPS only: every wrong backward still fails, and every one
    whose training drifts from autograd's over `ninja check`'s 2,000 steps drifts in these too."""
    old, new, drifts = WRONG_BACKWARDS[case]
    result = run(mutate(old, new), steps=GRADE_STEPS)
    assert not result.passed
    assert result.convergence.passed is not drifts, result.convergence.reason
