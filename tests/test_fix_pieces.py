"""The pieces of the fix search that run no learner code: a use's part of a gradient derived as code
from the forward pass (checked against autograd's part), the edits made of a learner's line, and how
a fix is carried and shown."""
import ast
import json

import pytest
import torch

from backprop_ninja.check.render import render
from backprop_ninja.engine.exercises.derivative import ONE, contribution
from backprop_ninja.engine.exercises.registry import exercises
from backprop_ninja.engine.judging.instrument import LearnerSource
from backprop_ninja.engine.judging.edits import Editing, candidates
from backprop_ninja.engine.judging.repair import _method
from backprop_ninja.engine.judging.trials import namespace
from backprop_ninja.engine.reading.cells import Snippet
from backprop_ninja.engine.results.records import CheckResult, Diagnosis, Fix, Kind, RootCause

pytestmark = pytest.mark.fast


def _uses_of_shared_tensors():
    """(exercise, tensor, use) for every tensor a forward pass uses more than once."""
    for key in ("ex1", "bigram", "mlp"):
        exercise = exercises()[key]
        for tensor, consumers in exercise.forward.consumers.items():
            if len(consumers) > 1:
                yield from ((key, tensor, consumer) for consumer in consumers)


@pytest.mark.parametrize("key, tensor, consumer", list(_uses_of_shared_tensors()))
def test_each_use_of_a_shared_tensor_is_derived_as_autograd_computes_it(key, tensor, consumer):
    exercise = exercises()[key]
    scope = dict(namespace(exercise, exercise.lecture))
    upstream = ONE if consumer == "loss" else f"d{consumer}"
    code = contribution(exercise.forward.expressions[consumer], tensor, upstream, scope, consumer)
    assert code is not None, f"{consumer} = {ast.unparse(exercise.forward.expressions[consumer])}"
    if upstream != ONE:
        scope[upstream] = exercise.truth(exercise.lecture)[upstream]
    derived = eval(code, scope)
    right = exercise.branches(exercise.lecture, tensor)[consumer]
    assert derived.shape == right.shape
    assert torch.allclose(derived.to(right.dtype), right, rtol=1e-4, atol=1e-6), code


def test_an_op_it_does_not_know_gives_no_code():
    exercise = exercises()["ex1"]
    expression = ast.parse("torch.sigmoid(logits).cumsum(1)", mode="eval").body
    assert contribution(expression, "logits", "dx", namespace(exercise, exercise.lecture)) is None


def _edits(code: str, gradient: str, kind: Kind, key: str = "ex1") -> list[str]:
    exercise = exercises()[key]
    snippets = (Snippet(code, "answer.py"),)
    source = LearnerSource(snippets, tuple(g.name for g in exercise.followed))
    followed = next(g for g in exercise.followed if g.name == gradient)
    return [edit.after for edit in candidates(Editing(exercise, source, followed, source.writes[gradient]), kind)]


def test_the_edits_the_kind_points_to_come_first_and_each_keeps_the_other_lines():
    code = "dlogprobs = torch.zeros_like(logprobs)\ndlogprobs[range(n), Yb] = -1.0\n"
    edits = _edits(code, "dlogprobs", Kind.SCALE)
    assert len(edits) == len(set(edits)), "each edit once"
    # the factors first, then `=` for `+=` (the smallest edit where the kind points nowhere)
    assert edits.index("dlogprobs[range(n), Yb] = -1.0 / n") < edits.index("dlogprobs[range(n), Yb] += -1.0")


def test_a_missing_use_is_added_as_a_line_after_both_gradients_are_written():
    code = "dcounts = counts_sum_inv * dprobs\ndcounts_sum = (-counts_sum**-2) * dcounts_sum_inv\n"
    edits = _edits(code, "dcounts", Kind.MISSING_BRANCH)
    added = [e for e in edits if "\n" in e]
    assert added[0] == ("dcounts_sum = (-counts_sum**-2) * dcounts_sum_inv\n"
                        "dcounts += torch.ones_like(counts) * dcounts_sum")


def test_edits_are_of_the_lines_that_write_the_gradient_only():
    code = "x = probs.sum(0)\ndprobs = (1.0 / probs) * dlogprobs\n"
    assert all("x = probs" not in after for after in _edits(code, "dprobs", Kind.LOCAL))


def _result(fix: Fix | None, searched: bool) -> CheckResult:
    root = RootCause("dbndiff2", Diagnosis(Kind.SCALE, "the right answer times (n-1)/n"), "keep the 1/(n-1)", True)
    return CheckResult("ex1", "a.py", (), (), root=root, root_fix=fix, fix_searched=searched)


FIX = Fix("dbndiff2", "a.py", 23, "dbndiff2 = (1.0 / n) * dbnvar", "dbndiff2 = (1.0 / (n - 1)) * dbnvar")


def test_a_fix_goes_into_json_only_where_it_was_searched_for_and_comes_back():
    assert "root_fix" not in _result(None, False).to_dict()
    assert _result(None, True).to_dict()["root_fix"] is None
    d = json.loads(json.dumps(_result(FIX, True).to_dict()))
    assert d["root_fix"] == {"gradient": "dbndiff2", "origin": "a.py", "line": 23,
                             "before": FIX.before, "after": FIX.after}
    back = CheckResult.from_dict(d)
    assert back.root_fix == FIX and back.fix_searched
    assert not CheckResult.from_dict(_result(None, False).to_dict()).fix_searched


def test_a_fix_is_shown_as_a_change_of_the_line_at_hints_fix_only():
    shown = render(_result(FIX, True), hints="fix")
    assert "fix: this change at a.py, line 23 makes dbndiff2 right on every instance:" in shown
    assert "- dbndiff2 = (1.0 / n) * dbnvar" in shown and "+ dbndiff2 = (1.0 / (n - 1)) * dbnvar" in shown
    assert "keep the 1/(n-1)" in shown, "the hint too"
    assert "fix:" not in render(_result(FIX, True), hints="on")
    added = Fix("dcounts", "a.py", 9, "dcounts_sum = x", "dcounts_sum = x\ndcounts += y")
    shown = render(_result(added, True), hints="fix")
    assert "          dcounts_sum = x\n        + dcounts += y" in shown
    assert "no small edit of your lines makes dbndiff2 right" in render(_result(None, True), hints="fix")


def test_a_change_of_several_lines_shows_each_line_taken_away_and_put_back():
    fix = Fix("__add__", "value.py", 5, "self.grad = g\nother.grad = g", "self.grad += g\nother.grad += g")
    assert fix.change() == ["- self.grad = g", "- other.grad = g", "+ self.grad += g", "+ other.grad += g"]
    added = Fix("dcounts", "a.py", 9, "dcounts_sum = x", "dcounts_sum = x\ndcounts += y")
    assert added.change() == ["  dcounts_sum = x", "+ dcounts += y"]


VALUE = '''\
class Value:
    def __mul__(self, other):
        out = Value(self.data * other.data, (self, other), '*')

        def _backward():
            self.grad = other.data
            other.grad = self.data
        out._backward = _backward
        return out
'''


def test_a_micrograd_ops_edits_are_of_its_own_lines_its_grads_and_its_output():
    exercise = exercises()["micrograd"]
    source = LearnerSource((Snippet(VALUE, "value.py"),), tuple(g.name for g in exercise.followed))
    statements, output = _method(source, "__mul__")
    assert output == "out"
    followed = next(g for g in exercise.followed if g.name == "__mul__")
    edits = [(edit.line, edit.after) for edit in candidates(Editing(exercise, source, followed, statements, output),
                                                             Kind.LOCAL)]
    assert (6, "            self.grad += other.data") in edits  # `=` for `+=`, one line
    assert (6, "            self.grad += other.data\n            other.grad += self.data") in edits  # both at once
    assert (6, "            self.grad = other.data * out.grad\n            other.grad = self.data * out.grad") in edits
    assert (6, "            self.grad = out.data") in edits  # the output's value for an operand's
    assert all(line >= 3 for line, _ in edits), "only the op's own lines"


def test_every_size_written_as_a_number_on_a_line_is_replaced_at_once_too():
    edits = _edits("dlogprobs = torch.zeros((32, 27))\n", "dlogprobs", Kind.HARD_CODED_SIZE)
    assert "dlogprobs = torch.zeros((n, 27))" in edits
    assert "dlogprobs = torch.zeros((n, vocab_size))" in edits
