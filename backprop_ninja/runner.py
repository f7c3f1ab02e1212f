"""Running a learner's code in a namespace and collecting the gradients it leaves behind.

This is the only place learner code runs. It sees the namespace it is given and nothing else: the
true gradients live elsewhere, and what comes back is plain values, ready to cross a process
boundary. It runs under `torch.no_grad()`, as in the lecture, with autograd's engine barred: a
backward pass that needs autograd is not a hand-written one.
"""
from __future__ import annotations

import contextlib
import io
import traceback
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import CodeType

import torch
from torch.autograd.variable import Variable

from .submission import Snippet


@dataclass(frozen=True)
class Raised:
    """Where and how the learner's code stopped, with the shapes of the tensors named on that line."""

    origin: str
    lineno: int | None
    line: str
    exception: str
    shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    # The gradient that line writes, where the caller knows the exercise's names.
    gradient: str | None = None

    @property
    def where(self) -> str:
        return f"{self.origin}, line {self.lineno}" if self.lineno else self.origin

    @property
    def is_syntax_error(self) -> bool:
        return self.exception.startswith(SyntaxError.__name__)

    @property
    def used_autograd(self) -> bool:
        return self.exception.startswith(AutogradUsed.__name__)


@dataclass(frozen=True)
class BlockRun:
    values: dict[str, object]
    raised: Raised | None
    output: str
    # In a checkpointed run: each gradient's value when the code had finished writing it.
    finished: dict[str, object] = field(default_factory=dict)


class AutogradUsed(RuntimeError):
    """Raised inside learner code that reaches autograd's engine (backward, autograd.grad, torch.func)."""


AUTOGRAD_MESSAGE = ("this exercise is a hand-written backward pass: autograd (loss.backward(), "
                    "torch.autograd.grad, torch.func) is not allowed")


class _BarredEngine:
    """Stands in for autograd's engine; remembers being reached even if the learner's code catches
    the exception."""

    reached = False

    def __getattr__(self, name: str):
        self.reached = True
        raise AutogradUsed(AUTOGRAD_MESSAGE)


@contextlib.contextmanager
def _autograd_barred():
    # Every route into backpropagation (Tensor.backward, autograd.backward and .grad, torch.func's
    # transforms) goes through this one engine object.
    engine = Variable._execution_engine
    barred = Variable._execution_engine = _BarredEngine()
    try:
        with torch.no_grad():
            yield barred
    finally:
        Variable._execution_engine = engine


class LearnerCode:
    """A learner's snippets, compiled once, to run in as many namespaces as needed."""

    def __init__(self, snippets: tuple[Snippet, ...]):
        self.snippets = snippets
        self._compiled: list[tuple[Snippet, CodeType]] = []
        self.syntax_error: Raised | None = None
        for snippet in snippets:
            try:
                self._compiled.append((snippet, compile(snippet.source, snippet.origin, "exec")))
            except SyntaxError as e:
                self.syntax_error = Raised(snippet.origin, e.lineno, (e.text or "").rstrip(),
                                           f"SyntaxError: {e.msg}")
                break

    def run(self, namespace: dict[str, object], names: tuple[str, ...],
            checkpoints: Mapping[tuple[str, int | None], list[str]] | None = None,
            replacements: Mapping[str, torch.Tensor] | None = None) -> BlockRun:
        """Run the snippets in order in `namespace`; return the values of `names` they left there.

        With `checkpoints` ((origin, line) -> names, line None for the snippet's end), each named
        gradient is recorded when execution reaches its point, then swapped for its replacement, so
        that the code goes on from right values: what each step does with right inputs."""
        output = io.StringIO()
        raised = None
        finished: dict[str, object] = {}
        with contextlib.redirect_stdout(output), _autograd_barred() as barred:
            for snippet, code in self._compiled:
                points = {line: names_ for (origin, line), names_ in (checkpoints or {}).items()
                          if origin == snippet.origin}
                with _checkpointing(code, points, namespace, replacements or {}, finished):
                    raised = _run(snippet, code, namespace)
                if raised:
                    break
        if barred.reached and not (raised and raised.used_autograd):
            raised = Raised(self.snippets[0].origin, None, "", f"{AutogradUsed.__name__}: {AUTOGRAD_MESSAGE}")
        return BlockRun({name: namespace.get(name) for name in names}, raised or self.syntax_error,
                        output.getvalue(), finished)


@contextlib.contextmanager
def _checkpointing(code: CodeType, points: dict[int | None, list[str]], namespace: dict[str, object],
                   replacements: Mapping[str, torch.Tensor], finished: dict[str, object]) -> Iterator[None]:
    """Trace the snippet's own frame: at a checkpoint's line, record and replace its gradients."""
    if not points:
        yield
        return

    def reach(line: int | None) -> None:
        for name in points.pop(line, ()):
            value = namespace.get(name)
            finished[name] = value.clone() if isinstance(value, torch.Tensor) else value
            if name in replacements:
                namespace[name] = replacements[name].clone()

    raising = False  # an exception on its way out of the snippet: its end is never reached

    def local(frame, event, arg):
        nonlocal raising
        if event == "exception":
            raising = True
        elif event == "line":
            raising = False  # the exception was caught, and the code goes on
            reach(frame.f_lineno)
        elif event == "return" and not raising:
            reach(None)
        return local

    def outer(frame, event, arg):
        return local if frame.f_code is code else None

    previous = sys.gettrace()
    sys.settrace(outer)
    try:
        yield
    finally:
        sys.settrace(previous)


def _run(snippet: Snippet, code: CodeType, namespace: dict[str, object]) -> Raised | None:
    try:
        exec(code, namespace)
    except (Exception, SystemExit) as e:
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == snippet.origin]
        lineno = frames[-1].lineno if frames else None
        lines = snippet.source.splitlines()
        line = lines[lineno - 1].strip() if lineno and lineno <= len(lines) else ""
        message = str(e).strip().splitlines()[0] if str(e).strip() else ""
        shapes = tuple((name, tuple(value.shape)) for name in dict.fromkeys(re.findall(r"[A-Za-z_]\w*", line))
                       if isinstance(value := namespace.get(name), torch.Tensor))
        return Raised(snippet.origin, lineno, line, f"{type(e).__name__}: {message}".rstrip(": "), shapes)
    return None
