"""Reading a learner's submission (a `.py` file or a notebook) into the code it asks us to run."""
from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .syntax import base_name, written_names, written_on_line


T = TypeVar("T")


class SubmissionError(Exception):
    """The submission cannot be read: a user error, reported without a traceback."""


@dataclass(frozen=True)
class Snippet:
    """One piece of learner code and where it came from ("ex1.py", "ex1.ipynb, cell 3")."""

    source: str
    origin: str


def notebook_tag(exercise: str) -> str:
    """The cell tag that marks a notebook cell as the learner's answer to `exercise`."""
    return f"backprop-ninja:{exercise}"


@dataclass(frozen=True)
class Submission:
    """The code to check, and what the learner should know about how it was found."""

    snippets: tuple[Snippet, ...]
    warnings: tuple[str, ...] = ()
    # How the code was found, where there was any finding to do ("cell 9, by what it assigns").
    found: str = ""


@dataclass(frozen=True)
class Answers:
    """What each exercise's code writes (its gradients); those found in a notebook written the
    lecture's way, with no tags, by what they write; which of those sits inside a training loop; and
    those whose answers are the classes and functions they define (a `Value` class), and only those."""

    names: Mapping[str, tuple[str, ...]]
    untagged: tuple[str, ...] = ()
    in_training_loop: str | None = None
    defines: tuple[str, ...] = ()


def read_submission(path: Path, exercise: str, answers: Answers | None = None) -> Submission:
    """The code of `path` for `exercise`: a whole `.py` file; the cells of a notebook tagged as its
    answer (with a warning for untagged cells that look like part of it: they assign one of its
    gradients, or define a function it calls); or, in a notebook with no such tag, the code found
    by what it assigns, as `answers` says."""
    text = _text(path)
    if path.suffix == ".ipynb":
        notebook = _notebook(path, text)
        lecture = _lecture_answers(notebook.cells, str(path), answers) if answers else {}
        return _notebook_submission(path, notebook, exercise, answers, lecture)
    return Submission((_py_snippet(path, text, exercise, answers),))


def _py_snippet(path: Path, text: str, exercise: str, answers: Answers | None) -> Snippet:
    """A `.py` file's code: whole, or for an exercise answered by definitions, those it needs."""
    whole = Snippet(text, str(path))
    if answers and exercise in answers.defines:
        return next(iter(definitions([whole], answers.names[exercise])), whole)
    return whole


def _text(path: Path, content: bytes | None = None) -> str:
    """The file's text: read from `path`, or, where its `content` came along, decoded from that."""
    if content is None and not path.is_file():
        raise SubmissionError(f"{path}: no such file")
    if path.suffix not in (".py", ".ipynb"):
        raise SubmissionError(f"{path}: expected a .py file or a .ipynb notebook")
    try:
        return path.read_text(encoding="utf-8") if content is None else content.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SubmissionError(f"{path}: cannot read it ({e})") from None


def _notebook(path: Path, text: str) -> Any:
    import nbformat  # imported here: it is slow to import and .py submissions never need it

    try:
        return nbformat.reads(text, as_version=4)
    except Exception as e:  # nbformat raises several unrelated types for a broken file
        raise SubmissionError(f"{path}: not a readable notebook ({e})") from None


def read_submissions(path: Path, answers: Answers, content: bytes | None = None) -> dict[str, Submission]:
    """Every exercise `path` answers, with its code, reading the file once (or, given its `content`,
    not at all: a grader elsewhere sends it): for a notebook, those it has tagged cells or
    lecture-format cells for; for a `.py` file, the one its name says (`ex2.py`), else the one its
    code writes the gradients of (a `grads` list makes it the training exercise's). SubmissionError
    for a file that cannot be read at all."""
    text = _text(path, content)
    if path.suffix == ".py":
        key = _py_exercise(path, text, answers)
        return {key: Submission((_py_snippet(path, text, key, answers),))} if key else {}
    notebook, found = _notebook(path, text), {}
    lecture = _lecture_answers(notebook.cells, str(path), answers)
    for key in answers.names:
        try:
            found[key] = _notebook_submission(path, notebook, key, answers, lecture)
        except SubmissionError:
            continue
    return found


def _py_exercise(path: Path, text: str, answers: Answers) -> str | None:
    if path.stem in answers.names:
        return path.stem
    try:
        writes = {n for node in ast.parse(text).body for n in written_names(node)}
    except SyntaxError:
        return None
    if "grads" in writes and answers.in_training_loop:
        return answers.in_training_loop
    return next((k for k in answers.defines if writes & set(answers.names[k])), None) or _owner(writes, answers)


def _owner(writes: set[str], answers: Answers) -> str | None:
    """The exercise whose gradients these are: of those (but the training one) whose names hold all
    of them, the one with the fewest (a cell writing only dlogits is exercise 2's, not 1's)."""
    writes = writes & set().union(*answers.names.values())
    return min((k for k in answers.untagged if k != answers.in_training_loop and k not in answers.defines
                and writes and writes <= set(answers.names[k])), key=lambda k: len(answers.names[k]), default=None)


def _notebook_submission(path: Path, notebook: Any, exercise: str, answers: Answers | None,
                         lecture: Mapping[str, tuple[Snippet, ...]]) -> Submission:
    """`exercise`'s tagged cells; else, in `lecture` (`_lecture_answers`), those found by what they assign."""
    tag = notebook_tag(exercise)
    cells = [(Snippet(_without_magics(cell.source), f"{path}, cell {index}"),
              tag in cell.get("metadata", {}).get("tags", []))
             for index, cell in enumerate(notebook.cells, start=1) if cell.cell_type == "code"]
    snippets = tuple(snippet for snippet, tagged in cells if tagged)
    if not snippets:
        found = lecture.get(exercise, ())
        if not found:
            writes = (f", nor a cell that answers it by what it assigns ({', '.join(answers.names[exercise][:3])}, "
                      "...)" if answers else "")
            raise SubmissionError(f"{path}: no code cell tagged '{tag}' (the answer cell of {exercise}){writes}")
        where = ", ".join(s.origin.rsplit(", ", 1)[-1] for s in found)
        return Submission(found, found=f"{where}, found by what it assigns")
    names = answers.names[exercise] if answers else ()
    first = next(i for i, (_, tagged) in enumerate(cells) if tagged)
    called = set().union(*(_names(s.source)[1] for s in snippets))
    warnings = []
    for i, (snippet, tagged) in enumerate(cells):
        assigned, _, defined = _names(snippet.source)
        looks_like = sorted(assigned & set(names)) if i > first else []
        helpers = sorted(defined & called)
        if tagged or not (looks_like or helpers):
            continue
        what = [f"assigns {', '.join(looks_like)}"] * bool(looks_like) + \
            [f"defines {', '.join(helpers)}, which your answer calls"] * bool(helpers)
        warnings.append(f"{snippet.origin} {' and '.join(what)}, but is not tagged '{tag}', so it is not checked: add the tag "
                        "to it (Jupyter: View > Cell Toolbar > Tags; JupyterLab: the property inspector), "
                        "or move its code into the tagged cell")
    return Submission(snippets, tuple(warnings))


def _defines(snippet: Snippet, tree: ast.Module | None, names: tuple[str, ...]) -> bool:
    """Does the snippet define one of `names` at its top level (read from its lines, if it does not parse)?"""
    if tree is None:
        return any(re.match(rf"(class|def)\s+{re.escape(name)}\b", line) for line in snippet.source.splitlines()
                   for name in names)
    return any(isinstance(st, (ast.ClassDef, ast.FunctionDef)) and st.name in names for st in tree.body)


# -- notebooks written the lecture's way: each answer found by what it assigns ---------------------------

# Bare calls that only look at results (the lecture's cmp, prints, plots): left out of an answer.
_LOOKING = {"cmp", "print", "display"}


def _lecture_answers(cells: list, origin: str, answers: Answers) -> dict[str, tuple[Snippet, ...]]:
    """Each exercise's code in a notebook with no tags, every cell read once. Exercises 1-3: the
    top-level statements of the cells whose gradients are that exercise's (a cell writing only
    dlogits is exercise 2's, one writing dlogprobs too is exercise 1's), in the order they ran. The
    training exercise: the backward part of the training loop's body. Other lines become blank, so
    that line numbers stay those of the cell."""
    every = set().union(*(answers.names[k] for k in answers.untagged))
    training = answers.in_training_loop
    found: dict[str, list[tuple[int | None, Snippet]]] = {}
    parsed: list[tuple[int | None, tuple[Snippet, ast.Module | None]]] = []  # every cell, for answers by definition
    for index, cell in enumerate(cells, start=1):
        if cell.cell_type != "code":
            continue
        source = _without_magics(cell.source)
        tree = _tree(source)
        where, ran = f"{origin}, cell {index}", cell.get("execution_count")
        parsed.append((ran, (Snippet(source, where), tree)))
        writes = (written_names(tree) if tree else
                  {n for line in source.splitlines() if (n := written_on_line(line, tuple(every)))})
        in_loop = (_training_backward(tree, answers.names[training])
                   if tree and training and len(writes & set(answers.names[training])) >= 3 else None)
        if in_loop and training:  # the training loop's cell holds that exercise only
            found.setdefault(training, []).append((ran, Snippet(_only(source, in_loop), where)))
            continue
        owner = _owner(writes, answers)
        if owner:  # a cell that does not parse is taken whole, so that the check says where it breaks
            found.setdefault(owner, []).append((ran, Snippet(_only(source, tree.body) if tree else source, where)))
    answered = {key: _in_order_run(pairs) for key, pairs in found.items()}
    for key in (k for k in answers.untagged if k in answers.defines):
        if answer := _definitions(_in_order_run(parsed), answers.names[key]):
            answered[key] = answer
    return answered


def _tree(source: str) -> ast.Module | None:
    """The source's syntax tree; None where it does not parse."""
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def definitions(snippets: list[Snippet], names: tuple[str, ...]) -> tuple[Snippet, ...]:
    """An answer made of definitions: the last snippet (in the order they ran) that defines one of
    `names`, with only those definitions, the functions and classes they use, and the imports they
    need, from it or from the snippets before it; nothing else runs (a notebook's drawing and
    experiments stay out). No snippet defines them: ()."""
    return _definitions(tuple((snippet, _tree(snippet.source)) for snippet in snippets), names)


def _definitions(parsed: tuple[tuple[Snippet, ast.Module | None], ...], names: tuple[str, ...]) -> tuple[Snippet, ...]:
    """`definitions`, of snippets parsed already."""
    snippets = [snippet for snippet, _ in parsed]
    trees = [tree for _, tree in parsed]
    last = next((i for i in reversed(range(len(snippets))) if _defines(snippets[i], trees[i], names)), None)
    if last is None:
        return ()
    tree = trees[last]
    if tree is None:  # taken whole, so that the check says where it breaks
        return (snippets[last],)
    defined = {st.name: st for st in tree.body if isinstance(st, (ast.ClassDef, ast.FunctionDef))}
    kept: list[ast.stmt] = []
    wanted = [name for name in names if name in defined]
    while wanted:
        definition = defined.pop(wanted.pop(), None)
        if definition is not None:
            kept.append(definition)
            wanted += [n.id for n in ast.walk(definition) if isinstance(n, ast.Name) and n.id in defined]
    used = {n.id for st in kept for n in ast.walk(st) if isinstance(n, ast.Name)}
    answer = []
    for snippet, tree in zip(snippets[:last + 1], trees[:last + 1]):
        imports: list[ast.stmt] = [
            st for st in (tree.body if tree else ()) if isinstance(st, (ast.Import, ast.ImportFrom))
            and any((a.asname or a.name).split(".")[0] in used for a in st.names)]
        if imports or snippet is snippets[last]:
            answer.append(Snippet(_only(snippet.source, imports + (kept if snippet is snippets[last] else [])),
                                  snippet.origin))
    return tuple(answer)


def _in_order_run(pairs: list[tuple[int | None, T]]) -> tuple[T, ...]:
    """The cells' snippets (or what stands for them) in the order the cells ran, which may not be the
    page's, where that is known."""
    if all(count is not None for count, _ in pairs):
        pairs = sorted(pairs, key=lambda pair: pair[0] or 0)
    return tuple(snippet for _, snippet in pairs)


def _training_backward(tree: ast.Module, names: tuple[str, ...]) -> list[ast.stmt] | None:
    """In a cell with the training loop, the loop body's statements from the first that writes a
    gradient (or calls into autograd) to the one that writes `grads` (or the last that writes a
    gradient)."""
    wanted = set(names)
    for loop in (node for node in ast.walk(tree) if isinstance(node, (ast.For, ast.While))):
        writes = [written_names(st) for st in loop.body]
        gradients = [i for i, w in enumerate(writes) if w & wanted]
        if len(gradients) < 3:  # not a backward pass: the lecture's dC loop, say
            continue
        last = next((i for i, w in enumerate(writes) if "grads" in w), gradients[-1])
        # A call into autograd just before the hand-written gradients belongs to them: it is checked.
        first = next(i for i, st in enumerate(loop.body) if i in gradients or _calls_autograd(st))
        return loop.body[first:last + 1]
    return None


def _calls_autograd(statement: ast.stmt) -> bool:
    return any((isinstance(node, ast.Attribute) and node.attr in ("backward", "autograd"))
               for node in ast.walk(statement))


def _only(source: str, statements: list[ast.stmt]) -> str:
    """The source with only `statements` left (less the bare calls that only look at results),
    dedented, every other line blank."""
    lines = source.splitlines()
    keep = [""] * len(lines)
    for st in statements:
        if _only_looks(st):
            continue
        for lineno in range(st.lineno, (st.end_lineno or st.lineno) + 1):
            keep[lineno - 1] = lines[lineno - 1]
    indent = min((len(line) - len(line.lstrip()) for line in keep if line.strip()), default=0)
    return "\n".join(line[indent:] if not line[:indent].strip() else line.lstrip() for line in keep) + "\n"


def _only_looks(statement: ast.stmt) -> bool:
    """A bare `cmp(...)`, `print(...)`, `plt....(...)` or a value left to be displayed."""
    if not isinstance(statement, ast.Expr):
        return False
    value = statement.value
    if isinstance(value, ast.Call):
        func = value.func
        return ((isinstance(func, ast.Name) and func.id in _LOOKING)
                or (isinstance(func, ast.Attribute) and base_name(func) == "plt"))
    return isinstance(value, (ast.Name, ast.Attribute, ast.Subscript, ast.Tuple, ast.Constant))


def _names(source: str) -> tuple[set[str], set[str], set[str]]:
    """The names a cell writes, the names it calls, and the functions and classes it defines."""
    try:
        tree = ast.parse(_without_magics(source))
    except SyntaxError:
        return set(), set(), set()
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    defined = {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    return written_names(tree), called, defined


def _without_magics(source: str) -> str:
    """Comment out IPython magics and shell escapes, keeping line numbers as they are."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())
