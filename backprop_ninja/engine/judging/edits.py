"""The edits the fix search tries: each a way learners slip in a line that writes a gradient, made
as text on the learner's own lines, so that what is shown is their line changed.

A family of edits is one small function of an `Editing` (the code, the gradient, the statements that
write it), yielding the code with one edit made: `=` for `+=` and back (one line, or every line of a
step at once), keepdim, a reduction's axis, a sign, a transpose or the operands of `@`, a factor of
the sizes, a number for the size it equals, a typo, an op's output for its input (`h` for `hpreact`,
`out.data` for `self.data`), the gradient arriving at a Value's output, a topological order walked
backwards, the gradient's shape, rows picked twice, the step's local derivative, and a use's part of
the gradient left out, derived from the forward pass. `candidates` orders them, the kind of mistake's
first. Nothing here runs code: `repair` runs each edit in the learner's worker.
"""
from __future__ import annotations

import ast
import builtins
import difflib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ..exercises.derivative import ATOMS, ONE, contribution
from ..exercises.exercise import Exercise, ForwardExercise, Gradient
from ..reading.cells import Snippet
from ..reading.syntax import base_name, written_names
from ..results.records import Kind, PackKind
from .instrument import LearnerSource, Statement, axis_node, is_reduction
from .trials import namespace

# The factors a step's slip of the sizes is off by, as code that multiplies by one.
_FACTORS = (("/", "{n}"), ("*", "{n}"), ("*", "({n} - 1) / {n}"), ("*", "{n} / ({n} - 1)"), ("*", "2"), ("/", "2"))


@dataclass(frozen=True)
class Edit:
    """The code with one edit made, and the lines it changes."""

    snippet: int
    line: int  # where the change starts, in that snippet
    before: str  # the whole lines as written
    after: str  # as they would be: a line more where a line is added
    snippets: tuple[Snippet, ...]  # the code with the edit made


class Editing:
    """The learner's code, the root's gradient, the statements that write it, and what edits of them are
    made from: a forward pass, where the exercise is one's backward (else the method that returns
    `output`, a micrograd op's)."""

    def __init__(self, exercise: Exercise, source: LearnerSource, gradient: Gradient, statements: list[Statement],
                 output: str | None = None):
        self.exercise, self.source, self.gradient, self.statements = exercise, source, gradient, statements
        self.forward = exercise.forward if isinstance(exercise, ForwardExercise) else None
        self.output = output
        self.sizes = {label: size for label, size in exercise.lecture.named_sizes().items() if label.isidentifier()}
        self.n = next(iter(self.sizes), "n")

    def replaced(self, snippet: int, node: ast.expr | ast.stmt, text: str) -> Edit | None:
        """The code with `node`'s text (on one line) replaced by `text`."""
        return self.all_replaced(snippet, [(node, text)])

    def all_replaced(self, snippet: int, replacements: Sequence[tuple[ast.expr | ast.stmt, str]]) -> Edit | None:
        """The code with each node's text replaced, where none overlaps another. A node written over
        several lines is replaced with them: the lines it took become as many as its new text takes."""
        if not replacements or any(node.end_lineno is None or node.end_col_offset is None for node, _ in replacements):
            return None
        lines = self.source.snippets[snippet].source.splitlines(keepends=True)
        first = min(node.lineno for node, _ in replacements)
        last = max(node.end_lineno or node.lineno for node, _ in replacements)
        starts = [0]  # where each line from `first` on starts, in UTF-8 bytes, as ast counts offsets
        for line in lines[first - 1:last]:
            starts.append(starts[-1] + len(line.encode()))
        block, end = "".join(lines[first - 1:last]).encode(), starts[-1]
        spans = sorted(((starts[node.lineno - first] + node.col_offset,
                         starts[(node.end_lineno or node.lineno) - first] + (node.end_col_offset or 0), text)
                        for node, text in replacements), reverse=True)
        for start, stop, text in spans:
            if stop > end:
                return None  # overlapping
            block, end = block[:start] + text.encode() + block[stop:], start
        return self.with_lines(snippet, {first: block.decode(), **{n: "" for n in range(first + 1, last + 1)}})

    def with_line(self, snippet: int, lineno: int, edited: str) -> Edit | None:
        return self.with_lines(snippet, {lineno: edited})

    def with_lines(self, snippet: int, edited: dict[int, str]) -> Edit | None:
        """The code with these lines (by number) as edited; the edit spans the first to the last."""
        lines = self.source.snippets[snippet].source.splitlines(keepends=True)
        first, last = min(edited), max(edited)
        before = "".join(lines[first - 1:last])
        for lineno, text in edited.items():
            lines[lineno - 1] = text
        after = "".join(lines[first - 1:last])
        if after == before:
            return None
        code = Snippet("".join(lines), self.source.snippets[snippet].origin)
        snippets = tuple(code if i == snippet else s for i, s in enumerate(self.source.snippets))
        return Edit(snippet, first, before.rstrip("\r\n"), after.rstrip("\r\n"), snippets)

    def together(self, edits: list[Edit | None]) -> Iterator[Edit | None]:
        """Edits of one line each, made at once: one edit per snippet where it holds more than one."""
        by_snippet: dict[int, dict[int, str]] = {}
        for edit in edits:
            if edit:
                by_snippet.setdefault(edit.snippet, {})[edit.line] = edit.after + "\n"
        for snippet, edited in by_snippet.items():
            if len(edited) > 1:
                yield self.with_lines(snippet, edited)

    def added(self, after: Statement, code: str) -> Edit | None:
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
        return text if isinstance(node, ATOMS) or negative_number else f"({text})"


Family = Callable[[Editing], Iterator[Edit | None]]


def _each_statement(edits: Callable[[Editing, Statement], Iterator[Edit | None]]) -> Family:
    """A family of edits made in each statement that writes the gradient, in turn."""
    def family(e: Editing) -> Iterator[Edit | None]:
        for st in e.statements:
            yield from edits(e, st)
    family.__doc__ = edits.__doc__
    return family


@_each_statement
def assignment(e: Editing, st: Statement) -> Iterator[Edit | None]:
    """`=` for `+=`, and back, in a statement that writes the gradient (or one of its entries, or a
    Value's .grad)."""
    for node, target in _assignments(st):
        if _accumulates(e, node, target):
            yield e.with_line(st.snippet, target.lineno, _assigned(e, st, node, target))


def all_assignments(e: Editing) -> Iterator[Edit | None]:
    """Every `=` into a gradient in the step made `+=` at once (micrograd's add with `=` on both lines)."""
    yield from e.together([e.with_line(st.snippet, target.lineno, _assigned(e, st, node, target))
                           for st in e.statements for node, target in _assignments(st)
                           if isinstance(node, ast.Assign) and _accumulates(e, node, target)])


def _accumulates(e: Editing, node: ast.Assign | ast.AugAssign, target: ast.expr) -> bool:
    """Is this a `=` or `+=` into the gradient (or a .grad), on one line, that `=` for `+=` may be tried on?"""
    into = base_name(target) == e.gradient.name or (isinstance(target, ast.Attribute) and target.attr == "grad")
    return (into and target.lineno == node.value.lineno
            and (isinstance(node, ast.Assign) or isinstance(node.op, ast.Add)))


def _assigned(e: Editing, st: Statement, node: ast.Assign | ast.AugAssign, target: ast.expr) -> str:
    """The line of `node` with its `=` made `+=`, or its `+=` made `=`."""
    op = " += " if isinstance(node, ast.Assign) else " = "
    line = e.source.snippets[st.snippet].source.splitlines(keepends=True)[target.lineno - 1].encode()
    return (line[:target.end_col_offset] + op.encode() + line[node.value.col_offset:]).decode()


@_each_statement
def keepdim(e: Editing, st: Statement) -> Iterator[Edit | None]:
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
def axis(e: Editing, st: Statement) -> Iterator[Edit | None]:
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
def sign(e: Editing, st: Statement) -> Iterator[Edit | None]:
    """A minus taken away, a + for a - and back, a difference the other way round, or the whole right
    side negated (by its leading number's sign, where it starts with one: `-1.0 / n` for `1.0 / n`)."""
    for node in ast.walk(st.node):
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            yield e.replaced(st.snippet, node, e.text(st.snippet, node.operand))
    for node in ast.walk(st.node):
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            flipped = " - " if isinstance(node.op, ast.Add) else " + "
            yield e.replaced(st.snippet, node, e.text(st.snippet, node.left) + flipped + e.text(st.snippet, node.right))
            if isinstance(node.op, ast.Sub):
                left = e.text(st.snippet, node.left)
                if isinstance(node.left, ast.BinOp) and isinstance(node.left.op, (ast.Add, ast.Sub)):
                    left = f"({left})"  # what is subtracted whole
                yield e.replaced(st.snippet, node, f"{e.text(st.snippet, node.right)} - {left}")
    for value in _values(st):
        leading = value.left if isinstance(value, ast.BinOp) and isinstance(value.op, (ast.Mult, ast.Div)) else None
        if isinstance(leading, ast.Constant):
            yield e.replaced(st.snippet, leading, f"-{e.text(st.snippet, leading)}")
        elif not (isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub)):
            yield e.replaced(st.snippet, value, f"-{e.operand(st.snippet, value)}")


@_each_statement
def transpose(e: Editing, st: Statement) -> Iterator[Edit | None]:
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
def factor(e: Editing, st: Statement) -> Iterator[Edit | None]:
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
def rescaled(e: Editing, st: Statement) -> Iterator[Edit | None]:
    """The finished gradient scaled by a factor of the sizes, in a line of its own (`dx /= n`)."""
    if e.forward and st is e.statements[-1]:
        for op, by in _FACTORS:
            yield e.added(st, f"{e.gradient.name} {op}= {by.format(n=e.n)}")


@_each_statement
def literal(e: Editing, st: Statement) -> Iterator[Edit | None]:
    """A number replaced by the size it equals (or its inverse, or one less); then every number on a
    line that equals a size, each by the first size it equals, at once (`torch.zeros((32, 27))`)."""
    numbers = [node for node in ast.walk(st.node) if isinstance(node, ast.Constant) and node.value
               and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)]
    for node in numbers:
        for label, size in e.sizes.items():
            if node.value == size:
                yield e.replaced(st.snippet, node, label)
            elif size > 1 and node.value == size - 1:
                yield e.replaced(st.snippet, node, f"({label} - 1)")
            elif abs(node.value - 1 / size) < 1e-9:
                yield e.replaced(st.snippet, node, f"(1 / {label})")
            elif node.value == size * size:
                yield e.replaced(st.snippet, node, f"{label}**2")
    label_of = {size: label for label, size in reversed(e.sizes.items())}
    sized = [(node, label_of[node.value]) for node in numbers if node.value in label_of]
    for lineno in sorted({node.lineno for node, _ in sized}):
        on_line = [(node, label) for node, label in sized if node.lineno == lineno]
        if len(on_line) > 1:
            yield e.all_replaced(st.snippet, on_line)


@_each_statement
def exchange(e: Editing, st: Statement) -> Iterator[Edit | None]:
    """The op's output named where its input belongs, or the other way: `h` for `hpreact` in tanh's
    derivative, `out.data` for `self.data` in a Value's exp."""
    if e.forward is None:
        yield from _exchange_values(e, st)
        return
    partners: dict[str, list[str]] = {}
    for tensor, expression in e.forward.expressions.items():
        inputs = [i for i in _names(expression) if i in e.forward.expressions or i in e.forward.leaves]
        if len(inputs) == 1:
            partners.setdefault(tensor, []).append(inputs[0])
            partners.setdefault(inputs[0], []).append(tensor)
    for node in ast.walk(st.node):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            for partner in partners.get(node.id, ()):
                yield e.replaced(st.snippet, node, partner)


def _exchange_values(e: Editing, st: Statement) -> Iterator[Edit | None]:
    """In a Value's op, one operand's or the output's `.data` for another's."""
    values = [name for name in ("self", "other", e.output) if name]
    for node in ast.walk(st.node):
        if isinstance(node, ast.Attribute) and node.attr == "data" and isinstance(node.value, ast.Name) \
                and node.value.id in values:
            for other in values:
                if other != node.value.id:
                    yield e.replaced(st.snippet, node.value, other)


def upstream(e: Editing) -> Iterator[Edit | None]:
    """The gradient arriving at a Value's output left out of what its operands get (`* out.grad`): in
    one line, then in every line that leaves it out at once."""
    if e.output is None:
        return
    edits = [e.replaced(st.snippet, node.value, f"{e.operand(st.snippet, node.value)} * {e.output}.grad")
             for st in e.statements for node, target in _assignments(st)
             if isinstance(target, ast.Attribute) and target.attr == "grad" and node.value.lineno == node.lineno
             and f"{e.output}.grad" not in ast.unparse(node.value)]
    yield from edits
    yield from e.together(edits)


@_each_statement
def walk_order(e: Editing, st: Statement) -> Iterator[Edit | None]:
    """A topological order walked the wrong way: `reversed(order)` for `order`, and back."""
    if isinstance(st.node, ast.For):
        walked = st.node.iter
        if isinstance(walked, ast.Call) and isinstance(walked.func, ast.Name) and walked.func.id == "reversed" \
                and len(walked.args) == 1:
            yield e.replaced(st.snippet, walked, e.text(st.snippet, walked.args[0]))
        else:
            yield e.replaced(st.snippet, walked, f"reversed({e.text(st.snippet, walked)})")


@_each_statement
def view(e: Editing, st: Statement) -> Iterator[Edit | None]:
    """The gradient given back its tensor's shape."""
    if e.forward is None:
        return
    for value in _values(st):
        yield e.replaced(st.snippet, value, f"{e.operand(st.snippet, value)}.view({e.gradient.tensor}.shape)")


@_each_statement
def accumulate(e: Editing, st: Statement) -> Iterator[Edit | None]:
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
def misspelt(e: Editing, st: Statement) -> Iterator[Edit | None]:
    """A name the code is never given nor writes, for the closest one it is (`prob` for `probs`)."""
    known = set(namespace(e.exercise, e.exercise.lecture)) | set(e.source.names) | {
        name for sts in e.source.statements for name in written_names(sts.node)}
    for node in ast.walk(st.node):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in known \
                and not hasattr(builtins, node.id):
            for name in difflib.get_close_matches(node.id, sorted(known), n=2):
                yield e.replaced(st.snippet, node, name)


@_each_statement
def local_derivative(e: Editing, st: Statement) -> Iterator[Edit | None]:
    """A step's local derivative mistaken: a forward tensor for its inverse or its square, or the
    derivative left out altogether (`dcounts` where `counts * dcounts` belongs)."""
    forward, exercise = e.forward, e.exercise
    if forward is None or not isinstance(exercise, ForwardExercise):
        return
    for node in ast.walk(st.node):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in forward.expressions:
            yield e.replaced(st.snippet, node, f"(1 / {node.id})")
            yield e.replaced(st.snippet, node, f"{node.id}**2")
    consumers = exercise.consumers(e.gradient.tensor)
    if len(consumers) == 1 and consumers[0] in forward.expressions:
        scope = namespace(exercise, exercise.lecture)
        for value in _values(st):
            part = contribution(forward.expressions[consumers[0]], e.gradient.tensor,
                                e.operand(st.snippet, value), scope, consumers[0])
            if part:
                yield e.replaced(st.snippet, value, part)


def branch(e: Editing) -> Iterator[Edit | None]:
    """A use of the tensor whose part of the gradient is missing, added as a `+=` line once both the
    gradient and that use's gradient are written."""
    exercise, tensor, name = e.exercise, e.gradient.tensor, e.gradient.name
    if not isinstance(exercise, ForwardExercise) or len(exercise.consumers(tensor)) < 2 or not e.statements:
        return
    consumers = exercise.consumers(tensor)
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
FAMILIES: tuple[Family, ...] = (assignment, all_assignments, keepdim, axis, sign, transpose, factor, literal,
                                misspelt, view, exchange, upstream, walk_order, accumulate, rescaled, branch,
                                local_derivative)
# Where the diagnosis's kind points first.
POINTS_TO: dict[Kind | PackKind, tuple[Family, ...]] = {
    Kind.MISSING_BRANCH: (assignment, all_assignments, branch), Kind.SHAPE: (keepdim, view, axis),
    Kind.WRONG_AXIS: (axis, keepdim),
    Kind.SIGN: (sign,), Kind.SCALE: (factor, rescaled, literal), Kind.HARD_CODED_SIZE: (literal, factor),
    Kind.TRANSPOSE: (transpose,), Kind.DUPLICATE_INDEX: (assignment, accumulate), Kind.RAISED: (misspelt, transpose)}


def candidates(e: Editing, kind: Kind | PackKind) -> Iterator[Edit]:
    """Each edit once, the families the kind points to first."""
    first = POINTS_TO.get(kind, ())
    seen: set[tuple[Snippet, ...]] = set()
    for family in first + tuple(f for f in FAMILIES if f not in first):
        for edit in family(e):
            if edit and edit.snippets not in seen:
                seen.add(edit.snippets)
                yield edit


def _transposed(e: Editing, st: Statement, node: ast.expr) -> str:
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
    """The statement's reductions in the order they are written."""
    return sorted((node for node in ast.walk(st.node) if is_reduction(node)), key=lambda c: (c.lineno, c.col_offset))
