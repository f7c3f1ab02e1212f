"""Reading a learner's submission (a `.py` file or a notebook) into the code it asks us to run."""
from __future__ import annotations

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


def read_submission(path: Path, exercise: str) -> tuple[Snippet, ...]:
    """The code of `path` for `exercise`: a whole `.py` file, or the tagged cells of a notebook."""
    if not path.is_file():
        raise SubmissionError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SubmissionError(f"{path}: cannot read it ({e})") from None
    if path.suffix == ".ipynb":
        return _notebook_snippets(path, text, exercise)
    if path.suffix != ".py":
        raise SubmissionError(f"{path}: expected a .py file or a .ipynb notebook")
    return (Snippet(text, str(path)),)


def _notebook_snippets(path: Path, text: str, exercise: str) -> tuple[Snippet, ...]:
    import nbformat  # imported here: it is slow to import and .py submissions never need it

    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as e:  # nbformat raises several unrelated types for a broken file
        raise SubmissionError(f"{path}: not a readable notebook ({e})") from None
    tag = notebook_tag(exercise)
    snippets = tuple(
        Snippet(_without_magics(cell.source), f"{path}, cell {index}")
        for index, cell in enumerate(notebook.cells, start=1)
        if cell.cell_type == "code" and tag in cell.get("metadata", {}).get("tags", [])
    )
    if not snippets:
        raise SubmissionError(f"{path}: no code cell tagged '{tag}' (the answer cell of {exercise})")
    return snippets


def _without_magics(source: str) -> str:
    """Comment out IPython magics and shell escapes, keeping line numbers as they are."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())
