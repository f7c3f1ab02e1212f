"""A notebook's cells as one program, and backward slices of it: the statements a value depends on.

The cells, in the order they ran, are a list of top-level statements (those inside a `with` block
each on its own), each with the names it reads, writes and binds anew. A backward slice from some
answers keeps the statements their values depend on, stopping at the names the grader provides. A
lecture-style check, `cmp('t', value, t)`, is read as the assignment of `value` to `dt`: the line says
which gradient the value answers.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from .cells import Cell, Snippet
from .syntax import written_names, written_on_line


@dataclass(frozen=True)
class Statement:
    cell: int  # the cell's place in the order the cells ran
    lines: tuple[int, ...]  # the cell's lines it occupies (with the headers of the `with` blocks around it)
    writes: frozenset[str]
    kills: frozenset[str]  # names it binds anew, whatever they held before
    binds: frozenset[str]  # names it binds anywhere in it (a loop's body too), perhaps only sometimes
    reads: frozenset[str]  # names it reads a value from before binding them
    none_only: bool = False  # `dX = None` (a stub's or template's line): no work done
    node: ast.stmt | None = None  # None for a cell that does not parse, taken whole


@dataclass
class Program:
    cells: list[Cell]
    statements: list[Statement]
    trees: list[ast.Module | None]


def program(cells: list[Cell], gradients: frozenset[str], checked: frozenset[str] = frozenset()) -> Program:
    """The cells as statements, each lecture-style check `cmp('t', value, t)` of one of `checked` (the
    gradients of packs whose lecture checks them so: "d" + t) read as the assignment of `value` to it
    (the learner's own names, a value computed in the call)."""
    statements: list[Statement] = []
    trees: list[ast.Module | None] = []
    prepared = []
    for index, cell in enumerate(cells):
        source = _checks_as_assignments(cell.source, checked) if checked else cell.source
        cell = Cell(source, cell.origin, cell.first_line, cell.tags)
        prepared.append(cell)
        tree = parse(source)
        trees.append(tree)
        if tree is None:  # taken whole, so that the check says where it breaks
            lines = source.splitlines()
            writes = {n for line in lines if (n := written_on_line(line, tuple(gradients)))}
            statements.append(Statement(index, tuple(range(1, len(lines) + 1)), writes=frozenset(writes),
                                        kills=frozenset(), binds=frozenset(), reads=frozenset()))
            continue
        statements.extend(statements_of(index, tree.body, ()))
    return Program(prepared, statements, trees)


def parse(source: str) -> ast.Module | None:
    """The source's syntax tree; None where it does not parse."""
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def statements_of(cell: int, body: list[ast.stmt], headers: tuple[int, ...]) -> Iterator[Statement]:
    """The statements of `body`, those inside a `with` block each on its own (a cell wrapped in
    `with torch.no_grad():` is as many statements as it holds)."""
    for node in body:
        if isinstance(node, ast.With):
            header = tuple(range(node.lineno, node.body[0].lineno))
            yield from statements_of(cell, node.body, headers + header)
            continue
        lines = headers + tuple(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        names = list(names_in_order(node))
        yield Statement(cell, lines, writes=frozenset(_writes(node)), kills=frozenset(bound_anew(node)),
                        binds=frozenset(name for name, stored in names if stored) | _imported(node),
                        reads=frozenset(_reads(names)), none_only=_none_only(node), node=node)


def _writes(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}  # what it assigns inside is its own
    return written_names(node) | _imported(node)


def _imported(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
    return set()


def bound_anew(node: ast.stmt) -> set[str]:
    """The names a statement binds anew, whatever they held before: assigned whole, defined, imported."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    targets = (node.targets if isinstance(node, ast.Assign) else
               [node.target] if isinstance(node, ast.AnnAssign) and node.value else [])
    bound = {n.id for target in targets for n in ast.walk(target)
             if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return bound | _imported(node)


def _reads(names: list[tuple[str, bool]]) -> set[str]:
    """The names a statement reads before it binds them itself (a loop's own variables are not read),
    of its names in the order Python evaluates them."""
    bound: set[str] = set()
    read: set[str] = set()
    for name, stored in names:
        if stored:
            bound.add(name)
        elif name not in bound:
            read.add(name)
    return read


def names_in_order(node: ast.AST) -> Iterator[tuple[str, bool]]:
    """(name, is it bound here) for every name in `node`, in the order Python evaluates them."""
    if isinstance(node, ast.Name):
        yield node.id, not isinstance(node.ctx, ast.Load)
    elif isinstance(node, ast.Assign):
        yield from names_in_order(node.value)
        for target in node.targets:
            yield from _target(target)
    elif isinstance(node, ast.AugAssign):
        yield from names_in_order(node.value)
        yield from _target(node.target, modified=True)
    elif isinstance(node, ast.AnnAssign):
        if node.value:
            yield from names_in_order(node.value)
        yield from _target(node.target)
    elif isinstance(node, ast.NamedExpr):
        yield from names_in_order(node.value)
        yield node.target.id, True
    elif isinstance(node, (ast.For, ast.AsyncFor)):
        yield from names_in_order(node.iter)
        yield from _target(node.target)
        for inside in node.body + node.orelse:
            yield from names_in_order(inside)
    elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
        for generator in node.generators:
            yield from names_in_order(generator.iter)
            yield from _target(generator.target)
            for condition in generator.ifs:
                yield from names_in_order(condition)
        parts: tuple[ast.expr, ...] = (node.key, node.value) if isinstance(node, ast.DictComp) else (node.elt,)
        for part in parts:
            yield from names_in_order(part)
    elif isinstance(node, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef)):
        for default in node.args.defaults + [d for d in node.args.kw_defaults if d]:
            yield from names_in_order(default)
        for decorator in getattr(node, "decorator_list", ()):
            yield from names_in_order(decorator)
        arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs + \
            [a for a in (node.args.vararg, node.args.kwarg) if a]
        inner = [(a.arg, True) for a in arguments]
        body: list[ast.stmt] | list[ast.expr] = node.body if isinstance(node.body, list) else [node.body]
        for statement in body:
            inner += list(names_in_order(statement))
        # A function's own names stay its own; the others it reads when it runs.
        local = {name for name, stored in inner if stored}
        yield from ((name, False) for name, stored in inner if not stored and name not in local)
        if not isinstance(node, ast.Lambda):
            yield node.name, True
    else:
        for child in ast.iter_child_nodes(node):
            yield from names_in_order(child)


def _target(target: ast.AST, modified: bool = False) -> Iterator[tuple[str, bool]]:
    """A target's names: a name is bound (or, augmented, read first); a subscript or attribute
    changes the object its base name holds, which it reads."""
    if isinstance(target, ast.Name):
        if modified:
            yield target.id, False
        yield target.id, True
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _target(element, modified)
    elif isinstance(target, ast.Starred):
        yield from _target(target.value, modified)
    else:  # a subscript or an attribute: every name in it is read
        for child in ast.iter_child_nodes(target):
            yield from names_in_order(child)


def _none_only(node: ast.stmt) -> bool:
    """`dX = None` or `dA, dB = None, None`: a stub's line, not an answer."""
    if not isinstance(node, ast.Assign):
        return False
    values = node.value.elts if isinstance(node.value, (ast.Tuple, ast.List)) else [node.value]
    return all(isinstance(v, ast.Constant) and v.value is None for v in values)


def _checks_as_assignments(source: str, gradients: frozenset[str]) -> str:
    """Each top-level `cmp('t', value, t)` whose value is not already `dt` itself, as `dt = value`,
    on the same line: the line says which gradient the value answers. Where the value is a name a
    simple statement before it wrote last, `dt = name` goes right after that statement, on its line:
    so a cell that raises after it still answers dt, as it still computed it."""
    tree = parse(source)
    if tree is None:
        return source
    lines = source.splitlines()
    for at, node in enumerate(tree.body):
        checked = _checked(node, gradients)
        if checked is None:
            continue
        name, value = checked
        start, end = node.lineno, node.end_lineno or node.lineno
        writer = _last_writer(tree.body[:at], value.id) if isinstance(value, ast.Name) else None
        if writer is not None and writer.end_lineno and writer.end_col_offset is not None:
            line, cut = lines[writer.end_lineno - 1], writer.end_col_offset
            lines[writer.end_lineno - 1] = f"{line[:cut]}; {name} = {ast.unparse(value)}{line[cut:]}"
            lines[start - 1] = ""
        else:
            indent = lines[start - 1][:len(lines[start - 1]) - len(lines[start - 1].lstrip())]
            lines[start - 1] = f"{indent}{name} = {ast.unparse(value)}"
        for lineno in range(start + 1, end + 1):
            lines[lineno - 1] = ""
    return "\n".join(lines) + "\n"


def _last_writer(body: list[ast.stmt], name: str) -> ast.stmt | None:
    """The last of these statements to write `name`, if it is a simple one (not a loop's body)."""
    writer = next((node for node in reversed(body) if name in written_names(node)), None)
    return writer if isinstance(writer, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr)) else None


def _checked(node: ast.stmt, gradients: frozenset[str]) -> tuple[str, ast.expr] | None:
    """(gradient, value) for a check written the lecture's way, `cmp('t', value, t)`, that assigns."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)) or \
            (isinstance(node.value.func, ast.Name) and node.value.func.id == "print"):
        return None
    args = node.value.args
    if len(args) != 3 or not (isinstance(args[0], ast.Constant) and isinstance(args[0].value, str)
                              and isinstance(args[2], ast.Name)):
        return None
    name = "d" + args[2].id
    if name not in gradients or (isinstance(args[1], ast.Name)
                                 and (args[1].id == name or misspelling(args[1].id, name))):
        return None
    return name, args[1]


def misspelling(written: str, meant: str) -> bool:
    """Does the name a learner wrote look like a slip in the lecture's name (`dlogits_maxes` for
    `dlogit_maxes`, `dbhprebn` for `dhprebn`: an edit or two), rather than a name of their own
    (`dL_dlogit_maxes`, `dL_dnormlogits`, `dlogits_fast`)?"""
    return written != meant and meant not in written and _edits(written, meant) <= 2


def _edits(a: str, b: str) -> int:
    """Levenshtein's distance: the fewest characters inserted, deleted or replaced that turn a into b."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


# -- the backward slice -----------------------------------------------------------------------------------


class Slice(NamedTuple):
    kept: set[int]  # the statements the answers depend on
    needed: set[str]  # the names they read that no statement before them binds: the grader's, or undefined


def backward_slice(statements: list[Statement], answers: Mapping[int, set[str]], provided: frozenset[str]) -> Slice:
    """The statements the values of `answers` (by the statement after which each is the answer)
    depend on. A provided name the learner binds anew (in their forward pass, in a training loop) is
    the grader's again: that statement falls away for it, though changes the learner made to the
    value in place after it stay."""
    live: set[str] = set()
    kept: set[int] = set()
    for i in range(max(answers, default=-1), -1, -1):
        live |= answers.get(i, set())
        statement = statements[i]
        regiven = statement.writes & live & provided & statement.binds
        live -= regiven
        if not (statement.writes & live):
            continue
        kept.add(i)
        live -= statement.kills
        live |= statement.reads
    return Slice(kept, live)


def snippets(found: Program, kept: set[int], rewritten: Mapping[int, str] = {}) -> tuple[Snippet, ...]:
    """The kept statements, a snippet per cell in the order the cells ran (a cell that does not parse,
    whole), each statement dedented by its own first line's indentation: a statement from inside a
    loop's body runs at the top level, one inside a `with` block under its header. A statement in
    `rewritten` (one of a single line) runs as the source given there."""
    by_cell: dict[int, dict[int, int]] = {}
    sources = {cell.origin: cell.source.splitlines() for cell in found.cells}
    for i in sorted(kept):
        statement = found.statements[i]
        lines = sources[found.cells[statement.cell].origin]
        first = lines[statement.lines[0] - 1]
        indent = len(first) - len(first.lstrip())
        by_cell.setdefault(statement.cell, {}).update({number: indent for number in statement.lines})
        if i in rewritten:
            line = lines[statement.lines[-1] - 1]
            lines[statement.lines[-1] - 1] = line[:len(line) - len(line.lstrip())] + rewritten[i]
    return tuple(found.cells[cell].snippet(only("\n".join(sources[found.cells[cell].origin]), indents))
                 for cell, indents in by_cell.items())


def only(source: str, indents: Mapping[int, int]) -> str:
    """The source with only the lines in `indents` left, each dedented by as much, every other line blank."""
    keep = []
    for number, line in enumerate(source.splitlines(), start=1):
        indent = indents.get(number)
        keep.append("" if indent is None else line[indent:] if not line[:indent].strip() else line.lstrip())
    return "\n".join(keep) + "\n"
