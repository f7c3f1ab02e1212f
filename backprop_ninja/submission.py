"""Reading a learner's submission (a `.py` file or a notebook) into the code it asks us to run."""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path


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


def read_submission(path: Path, exercise: str, names: tuple[str, ...] = ()) -> Submission:
    """The code of `path` for `exercise`: a whole `.py` file, or the tagged cells of a notebook
    (with a warning for untagged cells that look like part of the answer: they assign one of
    `names`, or define a function the answer calls)."""
    if not path.is_file():
        raise SubmissionError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SubmissionError(f"{path}: cannot read it ({e})") from None
    if path.suffix == ".ipynb":
        return _notebook_submission(path, text, exercise, names)
    if path.suffix != ".py":
        raise SubmissionError(f"{path}: expected a .py file or a .ipynb notebook")
    return Submission((Snippet(text, str(path)),))


def _notebook_submission(path: Path, text: str, exercise: str, names: tuple[str, ...]) -> Submission:
    import nbformat  # imported here: it is slow to import and .py submissions never need it

    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as e:  # nbformat raises several unrelated types for a broken file
        raise SubmissionError(f"{path}: not a readable notebook ({e})") from None
    tag = notebook_tag(exercise)
    cells = [(Snippet(_without_magics(cell.source), f"{path}, cell {index}"),
              tag in cell.get("metadata", {}).get("tags", []))
             for index, cell in enumerate(notebook.cells, start=1) if cell.cell_type == "code"]
    snippets = tuple(snippet for snippet, tagged in cells if tagged)
    if not snippets:
        raise SubmissionError(f"{path}: no code cell tagged '{tag}' (the answer cell of {exercise})")
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


def _names(source: str) -> tuple[set[str], set[str], set[str]]:
    """The names a cell assigns, the names it calls, and the functions and classes it defines."""
    try:
        tree = ast.parse(_without_magics(source))
    except SyntaxError:
        return set(), set(), set()
    assigned, called, defined = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            assigned.add(node.id)
        elif isinstance(node, (ast.AugAssign, ast.Assign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            assigned.update(t.value.id for t in targets
                            if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            called.add(node.func.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
    return assigned, called, defined


def _without_magics(source: str) -> str:
    """Comment out IPython magics and shell escapes, keeping line numbers as they are."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())
