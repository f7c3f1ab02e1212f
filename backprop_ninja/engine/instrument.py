"""Reading a learner's code as syntax: where each gradient is finished, which literals and reduction
axes its statements use, where it reaches for autograd; and the variants of it that the diagnosis
tries (one reduction's axis changed, or keepdim added), made as text edits that keep every line
number where it was.

Nothing here runs learner code: it turns snippets into facts, and into other snippets for the runner.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TypeGuard

from .reading import Snippet
from .syntax import base_name, written_names

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
        """(origin, line, what) wherever the code calls into autograd, in line order: `.backward()`,
        torch.autograd, torch.func or functorch, or a `.grad` copied into a gradient. Reading an
        attribute such as `requires_grad` uses nothing."""
        uses = []
        for snippet, module in zip(self.snippets, self.modules or []):
            for sub in ast.walk(module):
                if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr == "backward":
                    uses.append((snippet.origin, sub.lineno, ".backward()"))
                elif (isinstance(sub, ast.Attribute) and sub.attr in ("autograd", "func")
                      and isinstance(sub.value, ast.Name) and sub.value.id == "torch"):
                    uses.append((snippet.origin, sub.lineno, f"torch.{sub.attr}"))
                elif isinstance(sub, ast.Import):
                    uses += [(snippet.origin, sub.lineno, f"import {a.name}") for a in sub.names
                             if _autograd_module(a.name)]
                elif isinstance(sub, ast.ImportFrom) and sub.module and any(
                        _autograd_module(m) for m in [sub.module, *(f"{sub.module}.{a.name}" for a in sub.names)]):
                    uses.append((snippet.origin, sub.lineno, f"from {sub.module} import ..."))
        for name, sts in self.writes.items():
            uses += [(self.snippets[st.snippet].origin, sub.lineno, f".grad copied into {name}")
                     for st in sts for sub in ast.walk(st.node)
                     if isinstance(sub, ast.Attribute) and sub.attr == "grad" and isinstance(sub.ctx, ast.Load)
                     and _attribute_name(sub.value) != "autograd"]  # autograd.grad is a call, named above
        return sorted(set(uses), key=lambda use: use[1])

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

    def axis_variants(self, name: str) -> list[tuple[str, str, tuple[Snippet, ...]]]:
        """For each reduction in the statements of `name`: the code with its axis changed to each
        other axis, and with keepdim=True added where it is missing. Each variant comes as
        (kind, description, snippets)."""
        variants = []
        for st in self.writes[name]:
            for call in (c for c in ast.walk(st.node) if _reduction(c)):
                label = f"`{ast.get_source_segment(self.snippets[st.snippet].source, call)}` (line {call.lineno})"
                axis = _axis_node(call)
                if axis is None:
                    continue
                current = ast.literal_eval(axis)
                for other in (0, 1, 2, -1):
                    if other != current:
                        variants.append(("wrong-axis", f"{label} reduces over dim {current}, where the sum "
                                         f"belongs over dim {other}", self._replaced(st.snippet, axis, str(other))))
                if _attr(call) not in ("softmax", "log_softmax", "cumsum") and not any(
                        k.arg == "keepdim" for k in call.keywords):
                    assert call.end_lineno is not None and call.end_col_offset is not None  # ast.parse sets them
                    closing = ast.Constant(None, lineno=call.end_lineno, col_offset=call.end_col_offset - 1,
                                           end_lineno=call.end_lineno, end_col_offset=call.end_col_offset - 1)
                    variants.append(("shape", f"{label} drops the dimension it reduces: keepdim=True is "
                                     "missing", self._replaced(st.snippet, closing, ", keepdim=True")))
        return variants

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


def _autograd_module(name: str) -> bool:
    return name.startswith(("torch.autograd", "torch.func", "functorch"))


def _attr(call: ast.Call) -> str | None:
    return call.func.attr if isinstance(call.func, ast.Attribute) else None


def _reduction(node: ast.AST) -> TypeGuard[ast.Call]:
    return isinstance(node, ast.Call) and _attr(node) in REDUCTIONS


def _is_method_call(call: ast.Call) -> bool:
    """`x.sum(0)` rather than `torch.sum(x, 0)` or `F.softmax(x, 1)`."""
    return base_name(call.func) not in ("torch", "F", "nn")


def _axis_node(call: ast.Call) -> ast.expr | None:
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
