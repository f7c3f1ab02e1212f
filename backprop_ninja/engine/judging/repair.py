"""The smallest edit of the learner's own lines that makes a wrong step right, found by trying it.

Where a gradient's own step is wrong, the lines that write it are edited the ways learners slip
(`=` for `+=`, keepdim, a reduction's axis, a sign, a transpose or the operands of `@`, a factor of
the sizes, a number for the size it equals, a typo, a forward tensor's input for its output, the
gradient's shape, rows picked twice, and a use's part of the gradient left out), one edit at a time,
those the diagnosis's kind points to first, then the smallest. Each edit runs in the learner's worker like any other variant of their code, from right
inputs: the first that makes the step right on every instance is the fix. None is shown that was not
run and found right.
"""
from __future__ import annotations

import ast
import builtins
import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..exercises.derivative import ONE, contribution
from ..exercises.exercise import ForwardExercise, Gradient
from ..isolation.runner import LearnerCode
from ..reading.cells import Snippet
from ..reading.syntax import base_name, written_names
from ..results.records import PASS, Fix, Kind, PackKind, RootCause
from .instrument import LearnerSource, Statement, axis_node, is_reduction
from .trials import namespace, run_trial

# Edits tried at most, so that a long line's many variants cannot make a failing check slow.
MOST_TRIES = 120
# The factors a step's slip of the sizes is off by, as code that multiplies by one.
_FACTORS = (("/", "{n}"), ("*", "{n}"), ("*", "({n} - 1) / {n}"), ("*", "{n} / ({n} - 1)"), ("*", "2"), ("/", "2"))
# What reads as one operand in code: the rest is put in parentheses before it is multiplied or transposed.
_ATOMS = (ast.Name, ast.Constant, ast.Attribute, ast.Call, ast.Subscript)


@dataclass(frozen=True)
class _Edit:
    snippet: int
    line: int  # where the change shows, in that snippet
    before: str  # the whole line as written
    after: str  # as it would be: two lines where a line is added
    snippets: tuple[Snippet, ...]  # the code with the edit made


class _Editing:
    """The learner's code, the root's gradient and what edits of it are made from."""

    def __init__(self, exercise: ForwardExercise, source: LearnerSource, gradient: Gradient):
        self.exercise, self.source, self.gradient = exercise, source, gradient
        self.sizes = {label: size for label, size in exercise.lecture.named_sizes().items() if label.isidentifier()}
        self.n = next(iter(self.sizes), "n")

    def replaced(self, snippet: int, node: ast.expr | ast.stmt, text: str) -> _Edit | None:
        """The code with `node`'s text (on one line) replaced by `text`."""
        if node.end_lineno != node.lineno or node.end_col_offset is None:
            return None
        lines = self.source.snippets[snippet].source.splitlines(keepends=True)
        line = lines[node.lineno - 1].encode()  # ast counts UTF-8 bytes
        edited = (line[:node.col_offset] + text.encode() + line[node.end_col_offset:]).decode()
        return self.with_line(snippet, node.lineno, edited)

    def with_line(self, snippet: int, lineno: int, edited: str) -> _Edit | None:
        lines = self.source.snippets[snippet].source.splitlines(keepends=True)
        before = lines[lineno - 1]
        if edited == before:
            return None
        lines[lineno - 1] = edited
        code = Snippet("".join(lines), self.source.snippets[snippet].origin)
        snippets = tuple(code if i == snippet else s for i, s in enumerate(self.source.snippets))
        return _Edit(snippet, lineno, before.rstrip("\r\n"), edited.rstrip("\r\n"), snippets)

    def added(self, after: Statement, code: str) -> _Edit | None:
        """The code with a line added after a statement, indented as it is."""
        lines = self.source.snippets[after.snippet].source.splitlines(keepends=True)
        end = after.node.end_lineno or after.node.lineno
        indent = lines[after.node.lineno - 1][: after.node.col_offset]
        last = lines[end - 1] if lines[end - 1].endswith("\n") else lines[end - 1] + "\n"
        return self.with_line(after.snippet, end, f"{last}{indent}{code}\n")

    def text(self, snippet: int, node: ast.AST) -> str:
        return ast.get_source_segment(self.source.snippets[snippet].source, node) or ast.unparse(node)

    def operand(self, snippet: int, node: ast.expr) -> str:
        text = self.text(snippet, node)
        negative_number = isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant)
        return text if isinstance(node, _ATOMS) or negative_number else f"({text})"


Family = Callable[[_Editing], Iterator[_Edit | None]]


def _each_statement(edits: Callable[[_Editing, Statement], Iterator[_Edit | None]]) -> Family:
    """A family of edits made in each statement that writes the gradient, in turn."""
    def family(e: _Editing) -> Iterator[_Edit | None]:
        for st in e.source.writes[e.gradient.name]:
            yield from edits(e, st)
    family.__doc__ = edits.__doc__
    return family


@_each_statement
def assignment(e: _Editing, st: Statement) -> Iterator[_Edit | None]:
    """`=` for `+=`, and back, in a statement that writes the gradient (or one of its entries)."""
    for node, target in _assignments(st):
        if isinstance(node, ast.AugAssign) and not isinstance(node.op, ast.Add):
            continue
        op = " += " if isinstance(node, ast.Assign) else " = "
        if base_name(target) != e.gradient.name or target.lineno != node.value.lineno:
            continue
        line = e.source.snippets[st.snippet].source.splitlines(keepends=True)[target.lineno - 1].encode()
        edited = line[:target.end_col_offset] + op.encode() + line[node.value.col_offset:]
        yield e.with_line(st.snippet, target.lineno, edited.decode())


@_each_statement
def keepdim(e: _Editing, st: Statement) -> Iterator[_Edit | None]:
    """keepdim=True added to a reduction, or taken away."""
    for call in _reductions(st):
        kept = next((k for k in call.keywords if k.arg in ("keepdim", "keepdims")), None)
        text = e.text(st.snippet, call)
        if kept is None:
            yield e.replaced(st.snippet, call, f"{text[:-1].rstrip()}, keepdim=True)")
        else:
            arguments = [e.text(st.snippet, a) for a in call.args] + [
                e.text(st.snippet, k) for k in call.keywords if k is not kept]
            yield e.replaced(st.snippet, call, f"{e.text(st.snippet, call.func)}({', '.join(arguments)})")


@_each_statement
def axis(e: _Editing, st: Statement) -> Iterator[_Edit | None]:
    """A reduction's axis changed, or given where there was none."""
    for call in _reductions(st):
        given = axis_node(call)
        if given is None:
            if not call.args and not call.keywords and isinstance(call.func, ast.Attribute):
                for dim in (0, 1):
                    yield e.replaced(st.snippet, call, f"{e.text(st.snippet, call.func)}({dim}, keepdim=True)")
            continue
        current = ast.literal_eval(given)
        for dim in (0, 1, 2):
            if dim != current:
                yield e.replaced(st.snippet, given, str(dim))


@_each_statement
def sign(e: _Editing, st: Statement) -> Iterator[_Edit | None]:
    """The whole right side negated, a minus taken away, or a + for a - and back."""
    for value in _values(st):
        if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
            yield e.replaced(st.snippet, value, e.text(st.snippet, value.operand))
        else:
            yield e.replaced(st.snippet, value, f"-{e.operand(st.snippet, value)}")
    for node in ast.walk(st.node):
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and node not in _values(st):
            yield e.replaced(st.snippet, node, e.text(st.snippet, node.operand))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            flipped = " - " if isinstance(node.op, ast.Add) else " + "
            yield e.replaced(st.snippet, node, e.text(st.snippet, node.left) + flipped + e.text(st.snippet, node.right))


@_each_statement
def transpose(e: _Editing, st: Statement) -> Iterator[_Edit | None]:
    """A `.T` taken away, an operand of `@` transposed, or the two operands of `@` swapped."""
    for node in ast.walk(st.node):
        if isinstance(node, ast.Attribute) and node.attr == "T":
            yield e.replaced(st.snippet, node, e.text(st.snippet, node.value))
    for node in ast.walk(st.node):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            left, right = e.text(st.snippet, node.left), e.text(st.snippet, node.right)
            yield e.replaced(st.snippet, node, f"{_transposed(e, st, node.right)} @ {_transposed(e, st, node.left)}")
            yield e.replaced(st.snippet, node, f"{right} @ {left}")
            yield e.replaced(st.snippet, node, f"{left} * {right}")
            for operand in (node.left, node.right):
                if not (isinstance(operand, ast.Attribute) and operand.attr == "T"):
                    yield e.replaced(st.snippet, operand, f"{e.operand(st.snippet, operand)}.T")


@_each_statement
def factor(e: _Editing, st: Statement) -> Iterator[_Edit | None]:
    """n for n-1 and back, a power one off or dropped, or the right side times a factor of the sizes."""
    n = e.n
    for node in ast.walk(st.node):
        if isinstance(node, ast.Name) and node.id == n and isinstance(node.ctx, ast.Load):
            yield e.replaced(st.snippet, node, f"({n} - 1)")
        elif (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and isinstance(node.left, ast.Name)
              and node.left.id == n and isinstance(node.right, ast.Constant) and node.right.value == 1):
            yield e.replaced(st.snippet, node, n)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            exponent = e.text(st.snippet, node.right)
            base = e.text(st.snippet, node.left)
            yield e.replaced(st.snippet, node, f"{base}**({exponent} - 1)")
            yield e.replaced(st.snippet, node, f"{base}**({exponent} + 1)")
            yield e.replaced(st.snippet, node, e.operand(st.snippet, node.left))
    for value in _values(st):
        text = e.operand(st.snippet, value)
        for op, by in _FACTORS:
            yield e.replaced(st.snippet, value, f"{text} {op} {by.format(n=n)}")


@_each_statement
def rescaled(e: _Editing, st: Statement) -> Iterator[_Edit | None]:
    """The finished gradient scaled by a factor of the sizes, in a line of its own (`dlogits /= n`)."""
    if st is e.source.writes[e.gradient.name][-1]:
        for op, by in _FACTORS:
            yield e.added(st, f"{e.gradient.name} {op}= {by.format(n=e.n)}")


@_each_statement
def literal(e: _Editing, st: Statement) -> Iterator[_Edit | None]:
    """A number replaced by the size it equals (or its inverse, or one less)."""
    for node in ast.walk(st.node):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, (int, float))
                and not isinstance(node.value, bool) and node.value):
            continue
        for label, size in e.sizes.items():
            if node.value == size:
                yield e.replaced(st.snippet, node, label)
            elif size > 1 and node.value == size - 1:
                yield e.replaced(st.snippet, node, f"({label} - 1)")
            elif abs(node.value - 1 / size) < 1e-9:
                yield e.replaced(st.snippet, node, f"(1 / {label})")
            elif node.value == size * size:
                yield e.replaced(st.snippet, node, f"{label}**2")


@_each_statement
def exchange(e: _Editing, st: Statement) -> Iterator[_Edit | None]:
    """A forward tensor named where the op's input (or output) belongs: `h` for `hpreact` in tanh's
    derivative."""
    forward = e.exercise.forward
    partners: dict[str, list[str]] = {}
    for tensor, expression in forward.expressions.items():
        inputs = [i for i in _names(expression) if i in forward.expressions or i in forward.leaves]
        if len(inputs) == 1:
            partners.setdefault(tensor, []).append(inputs[0])
            partners.setdefault(inputs[0], []).append(tensor)
    for node in ast.walk(st.node):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            for partner in partners.get(node.id, ()):
                yield e.replaced(st.snippet, node, partner)


@_each_statement
def view(e: _Editing, st: Statement) -> Iterator[_Edit | None]:
    """The gradient given back its tensor's shape."""
    for value in _values(st):
        yield e.replaced(st.snippet, value, f"{e.operand(st.snippet, value)}.view({e.gradient.tensor}.shape)")


@_each_statement
def accumulate(e: _Editing, st: Statement) -> Iterator[_Edit | None]:
    """Rows picked more than once by an index, all added up: `dC[Xb] += demb` as index_add_."""
    for node, target in _assignments(st):
        if not (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
                and target.value.id == e.gradient.name and not isinstance(target.slice, ast.Tuple)):
            continue
        index = e.text(st.snippet, target.slice)
        index = index if index.endswith(".view(-1)") else f"{e.operand(st.snippet, target.slice)}.view(-1)"
        table, value = target.value.id, e.operand(st.snippet, node.value)
        yield e.replaced(st.snippet, node, f"{table}.index_add_(0, {index}, {value}.reshape(-1, *{table}.shape[1:]))")


@_each_statement
def misspelt(e: _Editing, st: Statement) -> Iterator[_Edit | None]:
    """A name the code is never given nor writes, for the closest one it is (`prob` for `probs`)."""
    known = set(namespace(e.exercise, e.exercise.lecture)) | set(e.source.names) | {
        name for sts in e.source.statements for name in written_names(sts.node)}
    for node in ast.walk(st.node):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in known \
                and not hasattr(builtins, node.id):
            for name in difflib.get_close_matches(node.id, sorted(known), n=2):
                yield e.replaced(st.snippet, node, name)


@_each_statement
def local_derivative(e: _Editing, st: Statement) -> Iterator[_Edit | None]:
    """A step's local derivative mistaken: a forward tensor for its inverse or its square, or the
    derivative left out altogether (`dcounts` where `counts * dcounts` belongs)."""
    forward = e.exercise.forward
    for node in ast.walk(st.node):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in forward.expressions:
            yield e.replaced(st.snippet, node, f"(1 / {node.id})")
            yield e.replaced(st.snippet, node, f"{node.id}**2")
    consumers = e.exercise.consumers(e.gradient.tensor)
    if len(consumers) == 1 and consumers[0] in forward.expressions:
        scope = namespace(e.exercise, e.exercise.lecture)
        for value in _values(st):
            part = contribution(forward.expressions[consumers[0]], e.gradient.tensor,
                                e.operand(st.snippet, value), scope, consumers[0])
            if part:
                yield e.replaced(st.snippet, value, part)


def branch(e: _Editing) -> Iterator[_Edit | None]:
    """A use of the tensor whose part of the gradient is missing, added as a `+=` line once both the
    gradient and that use's gradient are written."""
    exercise, tensor, name = e.exercise, e.gradient.tensor, e.gradient.name
    consumers = exercise.consumers(tensor)
    if len(consumers) < 2 or not e.source.writes[name]:
        return
    scope = namespace(exercise, exercise.lecture)
    followed = {g.name for g in exercise.followed}
    for consumer in consumers:
        upstream = ONE if consumer == "loss" else f"d{consumer}"
        if upstream != ONE and upstream not in followed:
            continue
        part = contribution(exercise.forward.expressions[consumer], tensor, upstream, scope, consumer)
        if part is None:
            continue
        writes = e.source.writes[name] + (e.source.writes.get(upstream, []) if upstream != ONE else [])
        yield e.added(max(writes, key=lambda st: (st.snippet, st.node.lineno)), f"{name} += {part}")


# Every family in the order tried where the diagnosis points nowhere: the smallest edits first.
FAMILIES: tuple[Family, ...] = (assignment, keepdim, axis, sign, transpose, factor, literal, misspelt, view,
                                exchange, accumulate, rescaled, branch, local_derivative)
# Where the diagnosis's kind points first.
POINTS_TO: dict[Kind | PackKind, tuple[Family, ...]] = {
    Kind.MISSING_BRANCH: (assignment, branch), Kind.SHAPE: (keepdim, view, axis), Kind.WRONG_AXIS: (axis, keepdim),
    Kind.SIGN: (sign,), Kind.SCALE: (factor, rescaled, literal), Kind.HARD_CODED_SIZE: (literal, factor),
    Kind.TRANSPOSE: (transpose,), Kind.DUPLICATE_INDEX: (assignment, accumulate), Kind.RAISED: (misspelt, transpose)}


def candidates(e: _Editing, kind: Kind | PackKind) -> Iterator[_Edit]:
    """Each edit once, the families the kind points to first."""
    first = POINTS_TO.get(kind, ())
    seen: set[tuple[Snippet, ...]] = set()
    for family in first + tuple(f for f in FAMILIES if f not in first):
        for edit in family(e):
            if edit and edit.snippets not in seen:
                seen.add(edit.snippets)
                yield edit


def search(exercise: ForwardExercise, code: LearnerCode, source: LearnerSource, root: RootCause) -> Fix | None:
    """The first edit that makes the root cause's own step right on every instance, or None."""
    gradient = next((g for g in exercise.followed if g.name == root.name), None)
    if gradient is None or not source.writes.get(root.name):
        return None
    names = source.names
    original = run_trial(exercise, code, (root.name,), source.checkpoints())
    failing = [i for i, c in zip(original.instances, original.comparisons[root.name]) if c.status != PASS]
    order = tuple(failing) + tuple(i for i in exercise.instances if i not in failing)

    def holds(edit: _Edit) -> bool:
        edited = LearnerSource(edit.snippets, names)
        if edited.modules is None:
            return False
        checkpoints, variant = edited.checkpoints(), code.variant(edit.snippets)
        for instances in (order[:1], order[1:]):
            if instances:
                trial = run_trial(exercise, variant, (root.name,), checkpoints, instances)
                if trial.status(root.name) != PASS or code.session.stopped:
                    return False
        return True

    for tried, edit in enumerate(candidates(_Editing(exercise, source, gradient), root.diagnosis.kind)):
        if tried == MOST_TRIES or code.session.stopped:
            return None
        if holds(edit):
            origin = source.snippets[edit.snippet].origin
            return Fix(root.name, origin, edit.line, edit.before, edit.after)
    return None


def _transposed(e: _Editing, st: Statement, node: ast.expr) -> str:
    """An operand's code transposed: its `.T` taken away, or one added."""
    if isinstance(node, ast.Attribute) and node.attr == "T":
        return e.text(st.snippet, node.value)
    return f"{e.operand(st.snippet, node)}.T"


def _assignments(st: Statement) -> list[tuple[ast.Assign | ast.AugAssign, ast.expr]]:
    """The statement's assignments to one target (`x = ...`, `x += ...`), with that target."""
    return [(node, node.targets[0] if isinstance(node, ast.Assign) else node.target) for node in ast.walk(st.node)
            if isinstance(node, ast.AugAssign) or (isinstance(node, ast.Assign) and len(node.targets) == 1)]


def _values(st: Statement) -> list[ast.expr]:
    """The right-hand sides of the statement's assignments."""
    return [node.value for node, _ in _assignments(st)]


def _names(expression: ast.expr) -> list[str]:
    return list(dict.fromkeys(n.id for n in ast.walk(expression) if isinstance(n, ast.Name)))


def _reductions(st: Statement) -> list[ast.Call]:
    return [node for node in ast.walk(st.node) if is_reduction(node)]
