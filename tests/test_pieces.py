"""Pure pieces of the judging and the reading, in the test's own process: one gradient compared with
the truth, and a learner's cells sliced down to what an answer depends on."""
import builtins

import pytest
import torch

from backprop_ninja.engine.exercises.compare import compare, harmless_shape
from backprop_ninja.engine.reading.cells import Cell
from backprop_ninja.engine.results.records import ERROR, FAIL, MISSING, PASS
from backprop_ninja.engine.reading.slicing import backward_slice, misspelling, program, snippets

pytestmark = pytest.mark.fast  # pure pieces: the fast tier

TRUTH = torch.tensor([[1.0, -2.0, 3.0]])


@pytest.mark.parametrize("value, status, says", [
    (None, MISSING, "not computed"),
    ([1.0, -2.0, 3.0], ERROR, "of type list"),
    (torch.tensor([[True, False, True]]), ERROR, "dtype torch.bool"),
    (torch.ones(3, 1), FAIL, "wrong shape: expected (1, 3), got (3, 1)"),
    (torch.tensor([[1.0, -2.0, float("nan")]]), FAIL, "nan or inf"),
    (TRUTH * 2, FAIL, ""),
    (torch.tensor([1.0, -2.0, 3.0]), PASS, "differs only by leading 1s"),
    (TRUTH.double(), PASS, ""),
])
def test_a_gradient_is_judged_by_shape_before_values(value, status, says):
    comparison = compare(value, TRUTH, rtol=1e-5, atol=1e-8)
    assert comparison.status == status and says in comparison.note


def test_broadcasting_never_passes_a_wrong_shape():
    """(1, 3) against (3, 3) would broadcast in the lecture's cmp; here it is the wrong shape."""
    assert compare(torch.ones(1, 3), torch.ones(3, 3), 1e-5, 1e-8).status == FAIL
    assert harmless_shape((64,), (1, 64)) and not harmless_shape((64, 1), (1, 64))


def test_rounding_noise_on_a_zero_gradient_passes_and_says_so():
    noise = torch.full((2,), 3e-8)
    strict = compare(noise, torch.zeros(2), rtol=1e-5, atol=1e-8)
    lenient = compare(noise, torch.zeros(2), rtol=1e-5, atol=1e-8, rounding=1e-6)
    assert strict.status == FAIL and lenient.status == PASS and "rounding" in lenient.note


CELLS = [
    Cell("import torch\nn = 32\nscratch = torch.zeros(3)\n", "nb, In [1]", "import torch"),
    Cell("dlogits = probs.clone()\ndlogits[range(n), Yb] -= 1\ndlogits /= n\nprint(dlogits.sum())\n",
         "nb, In [2]", "dlogits = probs.clone()"),
    Cell("dh_mine = dlogits @ W2.T\nprint('done')\n", "nb, In [3]", "dh_mine = dlogits @ W2.T"),
    Cell("cmp('h', dh_mine, h)\n", "nb, In [4]", "cmp('h', dh_mine, h)"),
]
BUILTINS = set(dir(builtins))  # what a slice needs of them is Python's, not the grader's


def test_a_lecture_check_answers_only_for_a_pack_whose_lecture_checks_so():
    """`cmp('h', dh_mine, h)` answers dh where the pack declares its lecture's checks; else it is a call."""
    unchecked = program(CELLS, frozenset({"dlogits", "dh"}))
    assert not any("dh" in s.writes for s in unchecked.statements)
    checked = program(CELLS, frozenset({"dlogits", "dh"}), checked=frozenset({"dh"}))
    assert any("dh" in s.writes for s in checked.statements)


def test_an_answer_keeps_what_it_depends_on_and_nothing_else():
    found = program(CELLS, frozenset({"dlogits", "dh"}))
    last_dlogits = max(i for i, s in enumerate(found.statements) if "dlogits" in s.writes)
    kept, needed = backward_slice(found.statements, {last_dlogits: {"dlogits"}}, frozenset({"probs", "Yb"}))
    code = "".join(s.source for s in snippets(found, kept))
    assert "dlogits /= n" in code and "n = 32" in code and "scratch" not in code and "print" not in code
    assert needed - BUILTINS == {"probs", "Yb"}


def test_a_lecture_check_is_read_as_the_assignment_it_checks_after_its_value_is_written():
    found = program(CELLS, frozenset({"dlogits", "dh"}), checked=frozenset({"dlogits", "dh"}))
    writer = next(i for i, s in enumerate(found.statements) if "dh" in s.writes)
    kept, needed = backward_slice(found.statements, {writer: {"dh"}}, frozenset({"probs", "Yb", "W2"}))
    code = "".join(s.source for s in snippets(found, kept))
    assert code.index("dh_mine = dlogits @ W2.T") < code.index("dh = dh_mine") and "print" not in code
    assert needed - BUILTINS == {"probs", "Yb", "W2"}


def test_a_slip_in_a_name_is_told_from_another_name():
    assert misspelling("dlogit", "dlogits") and misspelling("dW_2", "dW2")
    assert not misspelling("dW1", "dW1") and not misspelling("dh", "dhpreact")
