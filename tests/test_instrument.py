"""Reading learner code as syntax: where each gradient is finished, its literals, autograd calls,
overwrites and indexed writes, and variants edited in place without moving a line."""
import pytest

from backprop_ninja.engine.judging.instrument import LearnerSource
from backprop_ninja.engine.reading.cells import Snippet
from backprop_ninja.engine.reading.syntax import written_on_line

pytestmark = pytest.mark.fast  # pure pieces: the fast tier

NAMES = ("dlogits", "dh", "dW2", "dC")


def source(*texts: str) -> LearnerSource:
    return LearnerSource(tuple(Snippet(t, f"cell {i}") for i, t in enumerate(texts, start=1)), NAMES)


def test_a_gradient_is_finished_before_the_statement_after_its_last_write():
    s = source("dlogits = F.softmax(logits, 1)\n"
               "dlogits[range(n), Yb] -= 1\n"
               "dlogits /= n\n"
               "x = 1\n"
               "dh = dlogits @ W2.T\n")
    assert s.checkpoints() == {("cell 1", 4): ["dlogits"], ("cell 1", None): ["dh"]}


def test_statements_inside_with_blocks_count_as_top_level():
    s = source("with torch.no_grad():\n"
               "    dlogits = logits * 1\n"
               "    dh = dlogits @ W2.T\n"
               "dW2 = h.T @ dlogits\n")
    assert s.checkpoints() == {("cell 1", 3): ["dlogits"], ("cell 1", 4): ["dh"], ("cell 1", None): ["dW2"]}


def test_a_loop_is_one_statement_and_each_cell_has_its_own_end():
    s = source("dC = torch.zeros_like(C)\nfor k in range(n):\n    dC[Xb[k]] += 1\n", "dh = 1\n")
    assert s.checkpoints() == {("cell 1", None): ["dC"], ("cell 2", None): ["dh"]}


def test_literals_of_a_gradients_own_statements_only():
    s = source("x = 32\ndlogits = probs / 32\ndlogits[range(n), Yb] -= 1.0\n")
    assert s.literals("dlogits") == [(2, 32), (3, 1.0)]


def test_only_calls_into_autograd_are_uses():
    s = source("print(dh.requires_grad, h.grad)\n"
               "dW2 = W2.grad\n"
               "loss.backward()\n"
               "g = torch.autograd.grad(loss, [h])\n"
               "from torch.func import grad\n")
    assert [(line, what) for _, line, what in s.autograd_uses()] == [
        (2, ".grad copied into dW2"), (3, ".backward()"), (4, "torch.autograd"), (5, "from torch.func import grad")]


def test_torch_s_internals_and_code_hidden_from_the_reading_are_uses():
    s = source("import torch as t\n"
               "node = loss.grad_fn.next_functions[0][0]\n"
               "t.func.jacrev\n"
               "fwd = torch.autograd.forward_ad\n"
               "getattr(torch, 'float64')\n"
               "getattr(logits, 'grad' + '_fn')\n"
               "getattr(logits, 'grad_fn')\n",
               "torch._softmax_backward_data\n"
               "torch.ops.aten.tanh_backward\n"
               "Variable._execution_engine = variable.ImperativeEngine()\n"
               "importlib.import_module('functorch')\n"
               "eval(text)\n"
               "vars(torch)\n"
               "sys.modules['torch.func']\n"
               "from gc import get_referrers\n"
               "inspect.getattr_static(logits, 'next_functions')\n"
               "operator.attrgetter('grad_' + 'fn')(logits)\n")
    assert [(origin, line, what.split(", which")[0]) for origin, line, what in s.autograd_uses()] == [
        ("cell 1", 2, "loss.grad_fn"), ("cell 1", 2, "loss.grad_fn.next_functions"), ("cell 1", 3, "t.func"),
        ("cell 1", 3, "t.func.jacrev"), ("cell 1", 4, "torch.autograd"), ("cell 1", 4, "torch.autograd.forward_ad"),
        ("cell 1", 5, "getattr(torch, 'float64')"), ("cell 1", 6, "getattr(logits, 'grad' + '_fn')"),
        ("cell 1", 7, "getattr(logits, 'grad_fn')"),
        ("cell 2", 1, "torch._softmax_backward_data"), ("cell 2", 2, "torch.ops"),
        ("cell 2", 2, "torch.ops.aten.tanh_backward"), ("cell 2", 3, "Variable._execution_engine"),
        ("cell 2", 3, "variable.ImperativeEngine"), ("cell 2", 4, "importlib.import_module('functorch')"),
        ("cell 2", 5, "eval(text)"), ("cell 2", 6, "vars(torch)"), ("cell 2", 7, "sys.modules"),
        ("cell 2", 8, "from gc import get_referrers"), ("cell 2", 9, "'next_functions' in a string"),
        ("cell 2", 10, "operator.attrgetter('grad_' + 'fn')")]


def test_honest_code_is_no_use_of_autograd():
    s = source("import torch\nimport torch.nn.functional as F\nfrom torch import nn\nimport re, gc\n"
               "with torch.no_grad():\n"
               "    x = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)\n"
               "print(x.requires_grad, x.grad, x.grad is None, torch.__version__, F.softmax(x, 0))\n"
               "model = nn.Linear(2, 2)\nmodel.eval()\nre.compile('a')\ngc.collect()\nkind = getattr(x, 'dtype')\n"
               "import torch.functional\n")
    assert s.autograd_uses() == []


def test_an_overwrite_is_a_fresh_assignment_after_an_earlier_write():
    assert source("dlogits = a\ndlogits = b\n").overwrite("dlogits") == (2, 1)
    assert source("dlogits = a\ndlogits = dlogits + b\n").overwrite("dlogits") is None
    assert source("dlogits = a\ndlogits += b\n").overwrite("dlogits") is None
    assert source("dlogits = a\n").overwrite("dlogits") is None


def test_indexed_writes_say_their_operator_and_whether_in_a_loop():
    s = source("dC = torch.zeros_like(C)\nfor i in range(3):\n    dC[ix] = demb[i]\ndC[Xb] += demb\n")
    assert s.indexed_writes("dC") == [(3, "dC[ix] = demb[i]", "=", True), (4, "dC[Xb] += demb", "+=", False)]


def test_variants_edit_in_place_counting_utf8_bytes():
    s = source("# é, ü: two-byte characters before the call\n"
               "dlogits = 'é' and logits.sum(1)  # ü\n")
    variants = {description: snippets[0].source for _, description, snippets in s.axis_variants("dlogits")}
    edited = variants["`logits.sum(1)` (line 2) reduces over dim 1, where the sum belongs over dim 0"]
    assert edited.splitlines()[1] == "dlogits = 'é' and logits.sum(0)  # ü"
    keepdim = next(v for d, v in variants.items() if "keepdim=True is missing" in d)
    assert keepdim.splitlines()[1] == "dlogits = 'é' and logits.sum(1, keepdim=True)  # ü"
    assert all(len(v.splitlines()) == 2 for v in variants.values())


def test_a_line_that_does_not_parse_still_says_what_it_writes():
    assert written_on_line("db1 = dhprebn.sum(0", ("db1",)) == "db1"
    assert written_on_line("    dC[ix] += demb[k, j", ("dC",)) == "dC"
    assert written_on_line("if db1 == 0:", ("db1",)) is None
    assert written_on_line("x = db1(", ("db1",)) is None
