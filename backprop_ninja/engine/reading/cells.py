"""Reading a learner's file into the cells it ran: a notebook's code cells in the order they ran,
each read as IPython reads it; a `.py` file as one cell, or several where it has `# %%` markers."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class SubmissionError(Exception):
    """The submission cannot be read: a user error, reported without a traceback."""


@dataclass(frozen=True)
class Snippet:
    """One piece of learner code and where it came from ("ex1.py", "ex1.ipynb, In [3]")."""

    source: str
    origin: str


@dataclass(frozen=True)
class Cell:
    """A code cell as it ran: its source as Python (IPython's input transforms applied, line numbers
    kept), where the learner finds it, and its tags."""

    source: str
    origin: str  # "nb.ipynb, In [57]", or "nb.ipynb, code cell 7" for a cell never run
    first_line: str
    tags: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The cell as a learner finds it: `In [57]` and its first line."""
        return self.origin.rsplit(", ", 1)[-1] + (f" `{self.first_line}`" if self.first_line else "")

    @property
    def where(self) -> str:
        """The file and the cell in it, as a learner finds it."""
        return self.origin + (f" `{self.first_line}`" if self.first_line else "")

    def snippet(self, source: str | None = None) -> Snippet:
        return Snippet(self.source if source is None else source, self.origin)


def notebook_tag(exercise: str) -> str:
    """The cell tag that marks a notebook cell as the learner's answer to `exercise`."""
    return f"backprop-ninja:{exercise}"


def text_of(path: Path, content: bytes | None = None) -> str:
    """The file's text: read from `path`, or, where its `content` came along, decoded from that."""
    if content is None and not path.is_file():
        raise SubmissionError(f"{path}: no such file")
    if path.suffix not in (".py", ".ipynb"):
        raise SubmissionError(f"{path}: expected a .py file or a .ipynb notebook")
    try:
        return path.read_text(encoding="utf-8") if content is None else content.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SubmissionError(f"{path}: cannot read it ({e})") from None


def read_cells(path: Path, text: str) -> list[Cell]:
    """The file's code cells, in the order they ran."""
    if path.suffix == ".ipynb":
        return notebook_cells(str(path), _notebook(path, text).cells)
    return script_cells(str(path), text)


def _notebook(path: Path, text: str) -> Any:
    import nbformat  # imported here: it is slow to import and .py submissions never need it

    try:
        return nbformat.reads(text, as_version=4)
    except Exception as e:  # nbformat raises several unrelated types for a broken file
        raise SubmissionError(f"{path}: not a readable notebook ({e})") from None


def notebook_cells(origin: str, cells: list) -> list[Cell]:
    """A notebook's code cells (nbformat's), in the order they ran: by execution count, a cell never
    run staying after the cell above it; named by execution count where it is unique."""
    code = [cell for cell in cells if cell.get("cell_type") == "code"]
    counts = [count if isinstance(count := cell.get("execution_count"), int) else None for cell in code]
    taken = [count for count in counts if count is not None]
    read = []
    for number, (cell, count) in enumerate(zip(code, counts), start=1):
        where = f"In [{count}]" if count is not None and taken.count(count) == 1 else f"code cell {number}"
        source = cell.get("source", "")
        read.append(Cell(python_source(source if isinstance(source, str) else "".join(source)),
                         f"{origin}, {where}", _first_line(source), tuple(cell.get("metadata", {}).get("tags", []))))
    return [read[i] for i in sorted(range(len(read)), key=_ran_after(counts))]


def _ran_after(counts: list[int | None]):
    """The sort key of the order cells ran in: a cell with no count goes right after the one above it."""
    anchors, last = [], -1
    for count in counts:
        last = count if count is not None else last
        anchors.append(last)
    return lambda i: (anchors[i], i)


def script_cells(origin: str, text: str) -> list[Cell]:
    """A `.py` file as cells: one, or one per `# %%` marker (VS Code's and Jupytext's cells), each
    keeping the file's line numbers (other lines blank)."""
    lines = text.splitlines()
    starts = [0] + [i for i, line in enumerate(lines) if i and re.match(r"#\s*%%", line)]
    if len(starts) == 1:
        return [Cell(text, origin, _first_line(text))]
    cells = []
    for start, end in zip(starts, starts[1:] + [len(lines)]):
        part = "\n".join(lines[start:end])
        cells.append(Cell("\n" * start + part + "\n", f"{origin}, the cell at line {start + 1}", _first_line(part)))
    return cells


def _first_line(source: str) -> str:
    line = next((line.strip() for line in source.splitlines() if line.strip()), "")
    return line if len(line) <= 60 else line[:57] + "..."


# IPython's input transforms, as far as they matter here, each keeping the line count: magics,
# shell escapes and `?` help are not Python and become comments, and a cell indented as a whole
# runs as if it were not.
_NOT_PYTHON = re.compile(r"\s*(%|!|\?)|\s*[\w.\[\]()]+\?{1,2}\s*$|\s*[\w.,\s]+=\s*[%!]")


_PYTHON_BODIES = {"time", "timeit", "capture", "prun", "debug"}


def python_source(source: str) -> str:
    """A cell's source as the Python IPython runs of it, line for line."""
    lines = source.splitlines()
    magic = [False] * len(lines)
    cell_magic = re.match(r"\s*%%(\w+)", lines[0]) if lines else None
    if cell_magic:  # the body of `%%time` runs as Python; that of `%%writefile` or `%%bash` does not
        python_body = cell_magic.group(1) in _PYTHON_BODIES
        for i in range(len(lines) if not python_body else 1):
            lines[i], magic[i] = _commented(lines[i]), True
    for i, line in enumerate(lines):
        if not magic[i] and not line.lstrip().startswith("#"):
            timed = _timed(line)
            lines[i] = timed if timed else _passed(line) if _NOT_PYTHON.match(line) else line
    # IPython runs a cell indented as a whole as if it were not.
    indent = min((len(line) - len(line.lstrip()) for line, m in zip(lines, magic) if line.strip() and not m), default=0)
    return "\n".join(line.lstrip() if m else line[indent:] if not line[:indent].strip() else line.lstrip()
                     for line, m in zip(lines, magic)) + "\n"


def _passed(line: str) -> str:
    """A magic line as a statement that does nothing, where it stands (the body of an `if`, say)."""
    body = line.lstrip()
    return line[:len(line) - len(body)] + "pass  # " + body


def _commented(line: str) -> str:
    body = line.lstrip()
    return line[:len(line) - len(body)] + "# " + body


def _timed(line: str) -> str | None:
    """`%time x = f()` runs `x = f()`: the statement, where the line times one."""
    match = re.match(r"(\s*)%(?:time|timeit)\s+(?!-)(.+)$", line)
    return match.group(1) + match.group(2) if match else None
