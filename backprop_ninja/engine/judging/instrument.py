"""Reading a learner's code as syntax: where each gradient is finished, which literals and reduction
axes its statements use, where it reaches for autograd; and the variants of it that the diagnosis
tries (one reduction's axis changed, or keepdim added), made as text edits that keep every line
number where it was.

Nothing here runs learner code: it turns snippets into facts, and into other snippets for the runner.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeGuard

from ..reading.cells import Snippet
from ..reading.syntax import base_name, written_names

REDUCTIONS = {"sum", "mean", "max", "min", "softmax", "log_softmax", "var", "std", "argmax", "argmin",
              "prod", "logsumexp", "amax", "amin", "norm", "cumsum"}


@dataclass(frozen=True)
class Statement:
    """A top-level statement of one snippet (statements inside `with` blocks count as top level)."""

    snippet: int
    path: tuple[int, ...]  # indices into nested bodies
    node: ast.stmt

    @property
    def lines(self) -> range:
        return range(self.node.lineno, (self.node.end_lineno or self.node.lineno) + 1)


def _parse(snippets: tuple[Snippet, ...]) -> list[ast.Module] | None:
    try:
        return [ast.parse(s.source) for s in snippets]
    except SyntaxError:
        return None


def _statements(body: list[ast.stmt], snippet: int, path: tuple[int, ...] = ()) -> list[Statement]:
    out = []
    for i, node in enumerate(body):
        if isinstance(node, ast.With):
            out += _statements(node.body, snippet, (*path, i))
        else:
            out.append(Statement(snippet, (*path, i), node))
    return out


class LearnerSource:
    """The learner's snippets as syntax trees, with each gradient's writing statements."""

    def __init__(self, snippets: tuple[Snippet, ...], names: tuple[str, ...]):
        self.snippets = snippets
        self.names = names
        self.modules = _parse(snippets)
        self.statements = [st for i, m in enumerate(self.modules or []) for st in _statements(m.body, i)]
        self.writes: dict[str, list[Statement]] = {name: [] for name in names}
        for st in self.statements:
            for name in written_names(st.node) & set(names):
                self.writes[name].append(st)

    def statement_at(self, origin: str, lineno: int | None) -> Statement | None:
        snippet = next((i for i, s in enumerate(self.snippets) if s.origin == origin), None)
        return next((st for st in self.statements if st.snippet == snippet and lineno in st.lines), None)

    def gradient_written_at(self, statement: Statement | None) -> str | None:
        if statement is None:
            return None
        return next((name for name in self.names if statement in self.writes[name]), None)

    # -- what the statements of one gradient contain -------------------------------------------

    def literals(self, name: str) -> list[tuple[int, float]]:
        """(line, value) of every number in the statements that write `name`."""
        return [(sub.lineno, sub.value) for st in self.writes[name] for sub in ast.walk(st.node)
                if isinstance(sub, ast.Constant) and isinstance(sub.value, (int, float))
                and not isinstance(sub.value, bool)]

    def overwrite(self, name: str) -> tuple[int, int] | None:
        """(line, earlier line) where the last statement writing `name` assigns it afresh with `=`,
        throwing away what an earlier statement put there (`=` where `+=` was meant)."""
        sts = self.writes[name]
        if len(sts) < 2:
            return None
        last = sts[-1].node
        if not (isinstance(last, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in last.targets)):
            return None  # not `name = ...`: nothing earlier is thrown away
        reads_itself = any(isinstance(sub, ast.Name) and sub.id == name for sub in ast.walk(last.value))
        return None if reads_itself else (last.lineno, sts[-2].node.lineno)

    def indexed_writes(self, name: str) -> list[tuple[int, str, str, bool]]:
        """(line, its code, "=" or "+=", inside a loop?) of every write into an entry of `name`,
        as `dC[ix] = ...`."""
        found = []
        for st in self.writes[name]:
            in_loop = isinstance(st.node, (ast.For, ast.While))
            for sub in ast.walk(st.node):
                if not isinstance(sub, (ast.Assign, ast.AugAssign)):
                    continue
                targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target]
                if any(isinstance(t, ast.Subscript) and base_name(t) == name for t in targets):
                    code = ast.get_source_segment(self.snippets[st.snippet].source, sub) or ""
                    found.append((sub.lineno, code, "+=" if isinstance(sub, ast.AugAssign) else "=", in_loop))
        return found

    def autograd_uses(self) -> list[tuple[str, int, str]]:
        """(origin, line, what) wherever the code calls into autograd, in the order of the code: `.backward()`,
        torch.autograd, torch.func or functorch, torch's internals around them (a node's `grad_fn` called by
        hand, TorchScript, forward-mode AD, the engine), torch's attributes reached by a name the reading
        cannot see, or code hidden from the reading altogether (`exec`, `ctypes`, `gc`); or a `.grad`
        copied into a gradient. Reading an attribute such as `requires_grad` uses nothing."""
        torch_names = _torch_names(self.modules or [])
        uses: dict[tuple[str, int, str], tuple[int, int, int, int]] = {}
        for i, (snippet, module) in enumerate(zip(self.snippets, self.modules or [])):
            for node, what in _reaches(module, torch_names):
                position = (i, node.lineno, node.col_offset, node.end_col_offset or 0)
                uses.setdefault((snippet.origin, node.lineno, what), position)
        for name, sts in self.writes.items():
            for st in sts:
                for sub in ast.walk(st.node):
                    if (isinstance(sub, ast.Attribute) and sub.attr == "grad" and isinstance(sub.ctx, ast.Load)
                            and _attribute_name(sub.value) != "autograd"):  # autograd.grad is a call, named above
                        position = (st.snippet, sub.lineno, sub.col_offset, sub.end_col_offset or 0)
                        uses.setdefault((self.snippets[st.snippet].origin, sub.lineno,
                                         f".grad copied into {name}"), position)
        return sorted(uses, key=uses.__getitem__)

    # -- variants ---------------------------------------------------------------------------------

    def checkpoints(self) -> dict[tuple[str, int | None], list[str]]:
        """Where each gradient is finished: (origin, line of the next statement) -> names, with
        line None for the end of the snippet. The runner checks a gradient when it gets there."""
        points: dict[tuple[str, int | None], list[str]] = {}
        for name, sts in self.writes.items():
            if not sts:
                continue
            last = sts[-1]
            following = [st for st in self.statements if st.snippet == last.snippet and st.path > last.path
                         and st.node.lineno > (last.node.end_lineno or last.node.lineno)]
            line = following[0].node.lineno if following else None
            points.setdefault((self.snippets[last.snippet].origin, line), []).append(name)
        return points

    def axis_variants(self, name: str) -> Iterator[tuple[str, str, tuple[Snippet, ...]]]:
        """For each reduction in the statements of `name`: the code with its axis changed to each
        other axis, and with keepdim=True added where it is missing. Each variant comes as
        (kind, description, snippets), made as they are asked for."""
        for st in self.writes[name]:
            for call in (c for c in ast.walk(st.node) if is_reduction(c)):
                label = f"`{ast.get_source_segment(self.snippets[st.snippet].source, call)}` (line {call.lineno})"
                axis = axis_node(call)
                if axis is None:
                    continue
                current = ast.literal_eval(axis)
                for other in (0, 1, 2, -1):
                    if other != current:
                        yield ("wrong-axis", f"{label} reduces over dim {current}, where the sum belongs over dim "
                               f"{other}", self._replaced(st.snippet, axis, str(other)))
                if _attr(call) not in ("softmax", "log_softmax", "cumsum") and not any(
                        k.arg == "keepdim" for k in call.keywords):
                    assert call.end_lineno is not None and call.end_col_offset is not None  # ast.parse sets them
                    closing = ast.Constant(None, lineno=call.end_lineno, col_offset=call.end_col_offset - 1,
                                           end_lineno=call.end_lineno, end_col_offset=call.end_col_offset - 1)
                    yield ("shape", f"{label} drops the dimension it reduces: keepdim=True is missing",
                           self._replaced(st.snippet, closing, ", keepdim=True"))

    def _replaced(self, snippet: int, node: ast.expr, text: str) -> tuple[Snippet, ...]:
        """The snippets with the source of `node` (on one line) replaced by `text`."""
        source = self.snippets[snippet].source
        lines = source.splitlines(keepends=True)
        line = lines[node.lineno - 1].encode()  # ast offsets count UTF-8 bytes
        lines[node.lineno - 1] = (line[: node.col_offset] + text.encode() + line[node.end_col_offset:]).decode()
        edited = Snippet("".join(lines), self.snippets[snippet].origin)
        return tuple(edited if i == snippet else s for i, s in enumerate(self.snippets))


def _attribute_name(node: ast.AST) -> str | None:
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None


# Attributes that reach autograd, or torch's machinery beneath it, on whatever object they are read: a
# graph's nodes (called by hand, they are the backward pass), forward-mode AD, TorchScript (whose
# autograd.grad runs out of Python's sight), torch's C core, the engine by either of its names, and
# torch.func's transforms.
AUTOGRAD_ATTRIBUTES = frozenset({
    "autograd", "backward", "grad_fn", "next_functions", "forward_ad", "jit", "_C", "functorch", "_functorch",
    "ImperativeEngine", "_ImperativeEngine", "_execution_engine", "jacfwd", "jacrev", "jvp", "vjp", "hessian"})
# On torch (or one of its modules, F among them) these too: torch.func, and torch.ops and its backward
# kernels (torch._softmax_backward_data, torch.ops.aten.tanh_backward), a backward pass written by torch.
# A private attribute of torch is one of its internals as well.
TORCH_ATTRIBUTES = frozenset({"func", "ops"})
# Ways around reading the code: an object's attributes as a dict, every object alive, every module loaded.
AROUND_ATTRIBUTES = frozenset({"__dict__", "__getattribute__", "__subclasses__", "__globals__", "__builtins__",
                               "get_objects", "get_referrers", "get_referents"})
RUNS_UNSEEN = "which runs code this check cannot read"
# Builtins whose use the reading cannot follow, and why.
HIDDEN_BUILTINS = {"exec": RUNS_UNSEEN, "eval": RUNS_UNSEEN, "compile": "which makes code this check cannot read",
                   "vars": "which reaches attributes by name", "__builtins__": "which reaches the builtins by name",
                   "__import__": "which imports a module this check cannot name"}
# What reaches an object's attribute by a name given as a value.
BY_NAME = ("getattr", "attrgetter", "methodcaller")
# Modules that run code, or reach memory, out of the reading's sight.
HIDDEN_MODULES = frozenset({"ctypes", "_ctypes", "builtins"})


def _reaches(module: ast.Module, torch_names: frozenset[str]) -> Iterator[tuple[ast.expr | ast.stmt, str]]:
    """Each node of `module` that reaches for autograd, with what it is, as the learner wrote it."""
    calls = [node for node in ast.walk(module) if isinstance(node, ast.Call)]
    called = {id(call.func): call for call in calls}
    # The names getattr and an import are given: the call says what it reaches, not the string alone.
    named_in_call = {id(_name_argument(call)) for call in calls if _name_argument(call) is not None}
    for node in ast.walk(module):
        if isinstance(node, ast.Attribute):
            if node.attr == "backward" and id(node) in called:
                yield node, ".backward()"
            elif node.attr in AUTOGRAD_ATTRIBUTES or (_on_torch(node.value, torch_names) and _internal(node.attr)):
                yield node, _shown(node)
            elif node.attr in AROUND_ATTRIBUTES or (node.attr == "modules" and _attribute_name(node.value) == "sys"):
                yield node, f"{_shown(node)}, which reaches objects around this check"
        elif isinstance(node, ast.Name) and node.id in HIDDEN_BUILTINS and isinstance(node.ctx, ast.Load):
            call = called.get(id(node))
            if not (call and node.id == "__import__"):  # an import by a name: the call's own, below
                yield node, f"{_shown(call or node)}, {HIDDEN_BUILTINS[node.id]}"
        elif isinstance(node, ast.Call):
            yield from _reaches_by_name(node, torch_names)
        elif (isinstance(node, ast.Constant) and _string(node) in AUTOGRAD_ATTRIBUTES | AROUND_ATTRIBUTES
              and id(node) not in named_in_call):
            yield node, f"{node.value!r} in a string"  # an attribute to be reached by name, some other way
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _autograd_module(alias.name) or _hidden_module(alias.name):
                    yield node, f"import {alias.name}" + (f", {RUNS_UNSEEN}" if _hidden_module(alias.name) else "")
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [alias.name for alias in node.names]
            if _hidden_module(node.module):
                yield node, f"from {node.module} import {', '.join(names)}, {RUNS_UNSEEN}"
            elif _autograd_module(node.module) or any(_autograd_module(f"{node.module}.{name}")
                                                      or name in AROUND_ATTRIBUTES for name in names):
                yield node, f"from {node.module} import {', '.join(names)}"


def _reaches_by_name(call: ast.Call, torch_names: frozenset[str]) -> Iterator[tuple[ast.expr, str]]:
    """getattr on torch, or by a name computed as the code runs; an import of torch's autograd, or of a
    module named as the code runs."""
    named = _name_argument(call)
    if named is None:
        return
    literal = _string(named)
    if _attribute_name(call.func) in BY_NAME:
        if _attribute_name(call.func) == "getattr" and _on_torch(call.args[0], torch_names):
            yield call, f"{_shown(call)}, which reaches torch's attributes by name"
        elif literal is None:
            yield call, f"{_shown(call)}, which reaches an attribute named only as the code runs"
        elif literal in AUTOGRAD_ATTRIBUTES | AROUND_ATTRIBUTES:
            yield call, _shown(call)
    elif literal is None:
        yield call, f"{_shown(call)}, which imports a module named only as the code runs"
    elif _autograd_module(literal) or _hidden_module(literal):
        yield call, _shown(call)


def _name_argument(call: ast.Call) -> ast.expr | None:
    """What a call of getattr (or operator's attrgetter, methodcaller), __import__ or import_module is
    given as the name to reach."""
    function = _attribute_name(call.func)
    if function == "getattr" and len(call.args) > 1:
        return call.args[1]
    return call.args[0] if function in ("__import__", "import_module", *BY_NAME) and call.args else None


def _string(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _torch_names(modules: list[ast.Module]) -> frozenset[str]:
    """The names torch and its modules go by: torch and F, as the namespace gives them, and what the code
    imports from torch or binds to it (`import torch as t`, `from torch import nn`, `t = torch`)."""
    names = {"torch", "F"}
    nodes = [node for module in modules for node in ast.walk(module)]
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.asname or "torch" for alias in node.names if alias.name.split(".")[0] == "torch"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch":
            names |= {alias.asname or alias.name for alias in node.names}
    assignments = [node for node in nodes if isinstance(node, ast.Assign)]
    while True:  # `t = torch` then `u = t.nn`, in whatever order the walk met them
        bound = {target.id for a in assignments if _on_torch(a.value, frozenset(names))
                 for target in a.targets if isinstance(target, ast.Name)} - names
        if not bound:
            return frozenset(names)
        names |= bound


def _on_torch(node: ast.AST, torch_names: frozenset[str]) -> bool:
    """Is `node` torch, one of its modules or one of their attributes, by the names it goes by?"""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name) and node.id in torch_names


def _internal(attribute: str) -> bool:
    """An attribute of torch that is not for honest use: torch.func, torch.ops, a backward kernel, a private one."""
    return (attribute in TORCH_ATTRIBUTES or "backward" in attribute
            or (attribute.startswith("_") and not attribute.endswith("__")))


def _autograd_module(name: str) -> bool:
    """torch.autograd, torch.func, functorch, and torch's internals (torch.jit, torch._C, torch.ops)."""
    top, _, rest = name.partition(".")
    inner = rest.partition(".")[0]
    return top in ("functorch", "_functorch") or (top == "torch" and (
        inner in AUTOGRAD_ATTRIBUTES or inner in TORCH_ATTRIBUTES or inner.startswith("_")))


def _hidden_module(name: str) -> bool:
    return name.partition(".")[0] in HIDDEN_MODULES


def _shown(node: ast.AST) -> str:
    """The code of `node`, cut in the middle where it is long."""
    text = ast.unparse(node)
    return text if len(text) <= 60 else f"{text[:28]}...{text[-28:]}"


def _attr(call: ast.Call) -> str | None:
    return call.func.attr if isinstance(call.func, ast.Attribute) else None


def is_reduction(node: ast.AST) -> TypeGuard[ast.Call]:
    return isinstance(node, ast.Call) and _attr(node) in REDUCTIONS


def _is_method_call(call: ast.Call) -> bool:
    """`x.sum(0)` rather than `torch.sum(x, 0)` or `F.softmax(x, 1)`."""
    return base_name(call.func) not in ("torch", "F", "nn")


def axis_node(call: ast.Call) -> ast.expr | None:
    """The literal axis a reduction is given (`x.sum(0)`, `F.softmax(x, dim=1)`), if any."""
    for keyword in call.keywords:
        if keyword.arg in ("dim", "axis"):
            return keyword.value if _int_constant(keyword.value) else None
    position = 0 if _is_method_call(call) else 1
    if len(call.args) > position and _int_constant(call.args[position]):
        return call.args[position]
    return None


def _int_constant(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool)
