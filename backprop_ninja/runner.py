"""Running a learner's code in a namespace and collecting the gradients it leaves behind.

This is the only place learner code runs. It sees the namespace it is given and nothing else: the
true gradients live elsewhere, and what comes back is plain values, ready to cross a process boundary.
"""
from __future__ import annotations

import contextlib
import io
import traceback
from dataclasses import dataclass

from .submission import Snippet


@dataclass(frozen=True)
class Raised:
    """Where and how the learner's code stopped."""

    origin: str
    lineno: int | None
    line: str
    exception: str

    @property
    def where(self) -> str:
        return f"{self.origin}, line {self.lineno}" if self.lineno else self.origin


@dataclass(frozen=True)
class BlockRun:
    values: dict[str, object]
    raised: Raised | None
    output: str


def run_block(snippets: tuple[Snippet, ...], namespace: dict[str, object], names: tuple[str, ...]) -> BlockRun:
    """Run the snippets in order in `namespace`; return the values of `names` they left there."""
    output = io.StringIO()
    raised = None
    with contextlib.redirect_stdout(output):
        for snippet in snippets:
            raised = _run_snippet(snippet, namespace)
            if raised:
                break
    return BlockRun({name: namespace.get(name) for name in names}, raised, output.getvalue())


def _run_snippet(snippet: Snippet, namespace: dict[str, object]) -> Raised | None:
    lines = snippet.source.splitlines()
    try:
        code = compile(snippet.source, snippet.origin, "exec")
    except SyntaxError as e:
        return Raised(snippet.origin, e.lineno, (e.text or "").rstrip(), f"SyntaxError: {e.msg}")
    try:
        exec(code, namespace)
    except (Exception, SystemExit) as e:
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == snippet.origin]
        lineno = frames[-1].lineno if frames else None
        line = lines[lineno - 1].strip() if lineno and lineno <= len(lines) else ""
        message = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return Raised(snippet.origin, lineno, line, f"{type(e).__name__}: {message}".rstrip(": "))
    return None
