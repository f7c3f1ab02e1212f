"""The micrograd pack: a learner's Value class, checked op by op against float64 autograd. Its
reference, stub and corpus of mistakes are held to what they declare in test_packs; here, the classes
learners really write, the lecture's notebook, and what a wrong class cannot get away with."""
import json

import nbformat
import pytest
from conftest import worked
from nbformat.v4 import new_code_cell, new_notebook

from backprop_ninja.check import check
from backprop_ninja.check.notebook import check_answer
from backprop_ninja.engine.reading.cells import Snippet
from backprop_ninja.engine.exercises.registry import with_references
from backprop_ninja.packs.micrograd.exercise import MICROGRAD
from backprop_ninja.packs.micrograd.pack import PACK
from backprop_ninja.packs.micrograd.slips import RIGHT, predict
from backprop_ninja.packs.micrograd.value import STUB

REFERENCE = worked("micrograd")
MISTAKES = {m.name: m for m in with_references(PACK).mistakes}


def run(source: str):
    return check(MICROGRAD, (Snippet(source, "micrograd.py"),))


def statuses(result) -> dict[str, str]:
    return {g.name: g.status.value for g in result.gradients}


def without(source: str, method: str) -> str:
    """`source` with one method of Value taken out."""
    start = source.index(f"    def {method}(")
    end = source.index("\n    def ", start + 1)
    return source[:start] + source[end + 1:]


@pytest.mark.fast
def test_the_slips_right_local_derivatives_are_autograd_s():
    """The model the slips are predicted from agrees with the truth on every probe of every instance."""
    from backprop_ninja.packs.micrograd.exercise import _probes

    for instance in MICROGRAD.instances:
        truth = MICROGRAD.truth(instance)
        for op in RIGHT:
            predicted = [x for p in _probes(instance)[0] if p.op == op for x in predict(p, RIGHT[op])]
            assert truth[op].tolist() == pytest.approx(predicted, rel=1e-12), op


def test_a_class_with_relu_only_like_micrograd_s_engine_passes_with_tanh_and_exp_not_defined():
    result = run(without(without(REFERENCE, "tanh"), "exp"))
    assert result.passed and result.score == 1.0
    assert statuses(result) == {"__add__": "pass", "__mul__": "pass", "__pow__": "pass", "tanh": "not-defined",
                                "exp": "not-defined", "relu": "pass", "backward": "pass"}


def test_a_class_like_the_lecture_s_notebook_tanh_and_exp_without_relu_passes():
    result = run(without(REFERENCE, "relu"))
    assert result.passed and statuses(result)["relu"] == "not-defined"


def test_what_a_class_does_not_define_is_not_graded_anywhere():
    """No nonlinearity, no __pow__: the class is judged on what it has."""
    result = run(without(without(without(without(REFERENCE, "tanh"), "exp"), "relu"), "__pow__"))
    assert result.passed and result.score == 1.0
    assert statuses(result) == {"__add__": "pass", "__mul__": "pass", "__pow__": "not-defined", "tanh": "not-defined",
                                "exp": "not-defined", "relu": "not-defined", "backward": "pass"}
    nothing = run("import math\n")
    assert {g.note for g in nothing.gradients} == {"your code defines no class Value"} and not nothing.passed


def test_an_op_that_raises_is_an_error_naming_the_learner_s_line():
    broken = REFERENCE.replace("self.grad += out.data * out.grad", "self.grad += out.data * out.gradient")
    result = run(broken)
    exp = next(g for g in result.gradients if g.name == "exp")
    line = broken.splitlines().index("            self.grad += out.data * out.gradient") + 1
    assert exp.status.value == "error" and f"micrograd.py, line {line}" in exp.note and "AttributeError" in exp.note
    assert result.root_cause == "exp" and result.root.diagnosis.kind.value == "raised"


def test_the_untouched_stub_says_where_to_start():
    result = run(STUB)
    assert set(statuses(result).values()) == {"missing"} and not result.errors
    assert "__add__'s _backward leaves every gradient as it was" in result.gradients[0].note


def without_backward_bodies(source: str) -> list[str]:
    """The lines of `source` with the body of every `_backward` and of `backward()` left out."""
    lines, skipped_indent = [], None
    for line in source.splitlines():
        indent = len(line) - len(line.lstrip())
        if skipped_indent is not None:
            if not line.strip() or indent > skipped_indent:
                continue
            skipped_indent = None
        lines.append(line)
        if line.strip() in ("def _backward():", "def backward(self):"):
            skipped_indent = indent
    return lines


@pytest.mark.fast
def test_the_stub_is_the_reference_with_each_backward_body_a_todo():
    """The stub is installed, the reference not: they are kept in step here."""
    answer = REFERENCE.split('"""', 2)[2].lstrip("\n")  # without the file's docstring
    assert without_backward_bodies(STUB) == without_backward_bodies(answer)
    todos = [line.strip() for line in STUB.splitlines() if "# TODO" in line]
    assert len(todos) == answer.count("def _backward():") + 1 and all(t.startswith("pass  # TODO") for t in todos)


def test_a_wrong_op_makes_backward_inherit_its_error_rather_than_be_blamed():
    result = run(MISTAKES["mul without out.grad"].source)
    backward = next(g for g in result.gradients if g.name == "backward")
    assert backward.status.value == "fail" and backward.diagnosis.kind.value == "inherited"
    assert result.root_cause == "__mul__" and "without the upstream gradient out.grad" in result.root.diagnosis.message


def test_gradients_right_only_to_float32_precision_do_not_pass():
    """The tolerance is float64's: numbers near the gradients (float32 rounding, finite differences)
    are not the gradients."""
    rounded = "import numpy\n" + REFERENCE.replace("self.grad += (1 - t**2) * out.grad",
                                                   "self.grad += float(numpy.float32((1 - t**2) * out.grad))")
    result = run(rounded)
    assert statuses(result)["tanh"] == "fail" and result.root_cause == "tanh"


LECTURE_CELLS = [
    "import math\nimport random\nimport numpy as np\nimport matplotlib.pyplot as plt\n%matplotlib inline",
    "def f(x):\n  return 3*x**2 - 4*x + 5\nf(3.0)",
    None,  # the Value class, in the lecture's two-space style
    "from graphviz import Digraph\n\ndef draw_dot(root):\n  dot = Digraph(format='svg')\n  return dot",
    "a = Value(2.0)\nb = Value(-3.0)\nL = a * b\nL.backward()\ndraw_dot(L)",
    "class Neuron:\n  def __init__(self, nin):\n    self.w = [Value(random.uniform(-1,1)) for _ in range(nin)]\n",
]


def lecture_notebook(value_class: str):
    """A notebook the lecture's way, no tags: the Value class among drawing and experiments whose
    imports (graphviz) are not installed here and must not be run."""
    cells = [new_code_cell(value_class if source is None else source) for source in LECTURE_CELLS]
    return new_notebook(cells=cells)


def lecture_style(source: str) -> str:
    """The lecture's Value: two-space indents, no imports in the cell (math comes from cell 1)."""
    body = source[source.index("class Value"):]
    return "\n".join(" " * ((len(line) - len(line.lstrip())) // 2) + line.lstrip() for line in body.splitlines())


@pytest.mark.parametrize("case, root", [("right", None), ("exp with = (the lecture's own slip)", "exp")])
def test_the_lecture_s_untagged_notebook_is_checked_by_the_class_it_defines(tmp_path, ninja, case, root):
    source = REFERENCE if case == "right" else MISTAKES[case].source
    path = tmp_path / "micrograd_lecture.ipynb"
    nbformat.write(lecture_notebook(lecture_style(source)), path)
    code, out, err = ninja("check", "micrograd", path, "--json")
    result = json.loads(out)
    assert result["root_cause"] == root and result["passed"] == (root is None), (out, err)
    assert not result["errors"]


def test_the_in_notebook_check_takes_the_class_as_code():
    assert check_answer("micrograd", code=REFERENCE).result.passed


def test_the_command_checks_and_inits_the_pack(ninja, tmp_path):
    code, out, _ = ninja("init", tmp_path / "work")
    assert code == 0 and (tmp_path / "work" / "micrograd.py").read_text().count("# TODO") == 7
    code, out, _ = ninja("list")
    assert "micrograd" in out and "__add__" in out


def test_a_class_s_micrograd_submissions_are_graded_and_reported(tmp_path, run_ninja):
    """The lecture's untagged notebook and a micrograd-style engine.py, found by the class they define;
    an op a learner's class leaves out does not count against them in the report."""
    relu_only = without(without(REFERENCE, "tanh"), "exp")
    submitted = {("ada", "micrograd_lecture.ipynb"): None, ("bob", "engine.py"): relu_only,
                 ("cy", "engine.py"): relu_only.replace("self.grad += (out.data > 0) * out.grad",
                                                        "self.grad = (out.data > 0) * out.grad")}
    for (learner, name), text in submitted.items():
        path = tmp_path / "submitted" / learner / "micrograd" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            nbformat.write(lecture_notebook(lecture_style(REFERENCE)), path)
        else:
            path.write_text(text)
    db = tmp_path / "gradebook.db"
    code, out, err = run_ninja("grade", tmp_path / "submitted", "--gradebook", db, "--json", cwd=tmp_path)
    assert code == 0, err
    graded = {g["learner"]: r for g in json.loads(out) for r in g["results"]}
    assert graded["ada"]["passed"] and graded["bob"]["passed"] and graded["bob"]["score"] == 1.0
    assert (graded["cy"]["root_cause"], graded["cy"]["root_diagnosis"]["kind"]) == ("relu", "missing-branch")
    report = json.loads(run_ninja("report", "--gradebook", db, "--format", "json", cwd=tmp_path)[1])
    rows = {g["gradient"]: g for g in report["gradients"] if g["exercise"] == "micrograd"}
    assert rows["tanh"]["never"] == 0 and rows["relu"]["never"] == 1 and rows["relu"]["first_attempt"] == 2


def test_a_class_that_ends_its_process_is_stopped_at_its_own_line():
    """Inside a method the probes call, not at the probes' line: the learner's line is the one to fix."""
    source = REFERENCE.replace("        self.grad = 1.0\n", "        import os; os._exit(0)\n")
    result = run(source)
    raised = result.errors[0].raised
    assert not result.passed and raised.exception.startswith("ProcessEnded")
    assert raised.where == f"micrograd.py, line {source.splitlines().index('        import os; os._exit(0)') + 1}"


def test_a_class_that_exits_fails_the_rows_that_reach_it_at_its_own_line():
    source = REFERENCE.replace("        self.grad = 1.0\n", "        import sys; sys.exit(3)\n")
    line = source.splitlines().index("        import sys; sys.exit(3)") + 1
    backward = next(g for g in run(source).gradients if g.name == "backward")
    assert backward.status.value == "error"
    assert backward.note.startswith(f"raised SystemExit: 3 at micrograd.py, line {line}")


# -- classes as learners write them: each judged by what it does, through the API it has --------------

# The lecture's first half, as its transcript builds it: +, * and tanh of Values only (no numbers, no
# -, / or **), and backward() through a topological sort.
FIRST_HALF = '''\
import math


class Value:
    def __init__(self, data, _children=(), _op='', label=''):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = set(_children)
        self._op = _op
        self.label = label

    def __add__(self, other):
        out = Value(self.data + other.data, (self, other), '+')
        def _backward():
            self.grad += 1.0 * out.grad
            other.grad += 1.0 * out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        out = Value(self.data * other.data, (self, other), '*')
        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def tanh(self):
        x = self.data
        t = (math.exp(2*x) - 1)/(math.exp(2*x) + 1)
        out = Value(t, (self, ), 'tanh')
        def _backward():
            self.grad += (1 - t**2) * out.grad
        out._backward = _backward
        return out

    def backward(self):
        topo = []
        visited = set()
        def build_topo(v):
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build_topo(child)
                topo.append(v)
        build_topo(self)
        self.grad = 1.0
        for node in reversed(topo):
            node._backward()
'''


def test_the_lecture_s_first_half_class_passes_on_what_it_has():
    result = run(FIRST_HALF)
    assert result.passed and result.score == 1.0, [(g.name, g.status, g.note) for g in result.gradients]
    assert statuses(result) == {"__add__": "pass", "__mul__": "pass", "__pow__": "not-defined", "tanh": "pass",
                                "exp": "not-defined", "relu": "not-defined", "backward": "pass"}


def test_children_kept_under_another_name_are_walked_as_the_class_walks_them():
    result = run(FIRST_HALF.replace("_prev", "children"))
    assert result.passed, [(g.name, g.status, g.note) for g in result.gradients]


def test_an_op_built_from_other_ops_is_right_when_its_gradients_are():
    composed = REFERENCE.replace('''    def tanh(self):
        t = math.tanh(self.data)''', '''    def tanh(self):
        return ((2 * self).exp() - 1) / ((2 * self).exp() + 1)

    def tanh_unused(self):
        t = math.tanh(self.data)''')
    assert composed != REFERENCE
    result = run(composed)
    assert result.passed and statuses(result)["tanh"] == "pass", [(g.name, g.status, g.note) for g in result.gradients]


def test_a_notebook_that_first_imports_micrograd_is_checked_on_its_own_class(tmp_path, ninja):
    """`from micrograd.engine import Value` (not installed here) above the learner's own Value: the
    import is replaced by the class, and the class's real mistakes are found."""
    wrong = MISTAKES["mul's gradients swapped"].source
    cells = ["from micrograd.engine import Value\nimport math", "a = Value(2.0)", lecture_style(wrong)]
    path = tmp_path / "mine.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), path)
    code, out, err = ninja("check", "micrograd", path, "--json")
    result = json.loads(out)
    assert result["root_cause"] == "__mul__" and result["root_diagnosis"]["kind"] == "swapped", (out, err)


def test_a_broken_op_is_that_op_s_failure_not_backward_s():
    no_return = REFERENCE.replace('''            self.grad += (out.data > 0) * out.grad
        out._backward = _backward
        return out''', '''            self.grad += (out.data > 0) * out.grad
        out._backward = _backward''')
    raising = REFERENCE.replace("        out = Value(math.exp(self.data), (self,), 'exp')",
                                "        out = Value(math.exp(self.data), (self,), 'exp', 'no such argument')")
    for broken, op in ((no_return, "relu"), (raising, "exp")):
        assert broken != REFERENCE
        result = run(broken)
        assert statuses(result)[op] == "error" and statuses(result)["backward"] == "pass", statuses(result)
        assert result.root_cause == op


def test_a_class_without_backward_has_it_not_defined():
    result = run(REFERENCE[:REFERENCE.index("    def backward(self):")])
    assert statuses(result)["backward"] == "not-defined" and result.passed


def test_gradients_kept_in_another_attribute_are_read_there_and_the_report_says_so():
    result = run(REFERENCE.replace(".grad", "._grad").replace("self.grad = 0.0", "self._grad = 0.0"))
    assert result.passed, [(g.name, g.status, g.note) for g in result.gradients]
    assert any("keeps its gradient in _grad" in note for note in result.notes)


def test_a_wrong_op_of_a_first_half_class_is_still_found():
    result = run(FIRST_HALF.replace("self.grad += (1 - t**2) * out.grad", "self.grad += (1 - self.data**2) * out.grad"))
    assert not result.passed and result.root_cause == "tanh" and result.root.diagnosis.kind.value == "local"


def _notebook_check(tmp_path, ninja, cells):
    path = tmp_path / "mine.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), path)
    code, out, err = ninja("check", "micrograd", path, "--json")
    return json.loads(out)


def test_a_helper_function_from_an_earlier_cell_comes_along(tmp_path, ninja):
    topo = ("def build_topo(v, topo, visited):\n    if v not in visited:\n        visited.add(v)\n"
            "        for child in v._prev:\n            build_topo(child, topo, visited)\n        topo.append(v)\n")
    backward = FIRST_HALF[FIRST_HALF.index("    def backward(self):"):]
    calls = ("    def backward(self):\n        topo = []\n        build_topo(self, topo, set())\n"
             "        self.grad = 1.0\n        for node in reversed(topo):\n            node._backward()\n")
    uses = FIRST_HALF.replace(backward, calls)
    result = _notebook_check(tmp_path, ninja, ["import math", topo, "x = 1", uses.replace("import math\n", "")])
    assert result["passed"], result["gradients"]


def test_a_class_built_up_cell_by_cell_by_subclassing_is_the_whole_chain(tmp_path, ninja):
    """`class Value(Value):` adding an op a cell: each builds on the one before it."""
    base = FIRST_HALF[:FIRST_HALF.index("    def tanh(self):")]
    tanh = FIRST_HALF[FIRST_HALF.index("    def tanh(self):"):FIRST_HALF.index("    def backward(self):")]
    backward = FIRST_HALF[FIRST_HALF.index("    def backward(self):"):]
    cells = [base, "class Value(Value):\n" + tanh.replace("Value(t,", "type(self)(t,"),
             "class Value(Value):\n" + backward, "if True:\n    %matplotlib inline\nd = Value(2.0)"]
    result = _notebook_check(tmp_path, ninja, cells)
    assert result["passed"], result["gradients"]


def test_an_import_not_installed_here_only_fails_what_uses_it(tmp_path, ninja):
    drawing = REFERENCE.replace("import math\n", "import math\nfrom graphviz_not_installed import Digraph\n") + (
        "\n    def draw(self):\n        return Digraph()\n")
    path = tmp_path / "micrograd.py"
    path.write_text(drawing)
    code, out, err = ninja("check", "micrograd", path, "--json")
    assert json.loads(out)["passed"], (out, err)


def test_an_expression_with_division_is_not_asked_where_an_op_fails_alone():
    """`/` may be built from `**`: with `__pow__` broken, backward() is judged on the rest."""
    broken = REFERENCE.replace("assert isinstance(other, (int, float))", "other = Value(other)")
    result = run(broken)
    assert statuses(result)["__pow__"] in ("error", "fail") and statuses(result)["backward"] in ("pass", "fail")
    backward = next(g for g in result.gradients if g.name == "backward")
    assert backward.status.value == "pass" or backward.local_status.value == "pass"
