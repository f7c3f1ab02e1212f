"""Running a learner's code in a worker: its snippets in order in a namespace, with the gradients
finished at checkpoints recorded, each line said as it starts where asked, and how the code stopped."""
from __future__ import annotations

import contextlib
import functools
import io
import re
import socket
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from types import CodeType, FrameType

import torch

from ..results.records import Raised, Stop
from . import protocol
from .bars import AUTOGRAD_MESSAGE, AUTOGRAD_USED, AutogradUsed, BarredEngine, autograd_restored

# A learner's messages are cut to this length (what it prints, to the protocol's).
MAX_MESSAGE = 500



def _checkpointing(code: CodeType, points: dict[int | None, list[str]], namespace: dict[str, object],
                   replacements: Mapping[str, object], finished: dict[str, object],
                   report_line: Callable[[str, int], None] | None = None,
                   origins: frozenset[str] = frozenset()) -> contextlib.AbstractContextManager[None]:
    """Trace the snippet's own frame: at a checkpoint's line, record and replace its gradients; and,
    with `report_line`, say each line as it starts, there and in the functions of every snippet
    (`origins`: a Value's methods the probes call), to find where a process ends."""
    if not points and report_line is None:
        return contextlib.nullcontext()

    def reach(line: int | None) -> None:
        for name in points.pop(line, ()):
            value = namespace.get(name)
            finished[name] = value.clone() if isinstance(value, torch.Tensor) else value
            if name in replacements:
                replacement = replacements[name]
                namespace[name] = replacement.clone() if isinstance(replacement, torch.Tensor) else replacement

    raising = False  # an exception on its way out of the snippet: its end is never reached

    def local(frame: FrameType, event: str, arg: object):
        nonlocal raising
        if event == "exception":
            raising = True
        elif event == "line":
            raising = False  # the exception was caught, and the code goes on
            if report_line is not None:
                report_line(frame.f_code.co_filename, frame.f_lineno)
            reach(frame.f_lineno)
        elif event == "return" and not raising:
            reach(None)
        return local

    def inner(frame: FrameType, event: str, arg: object):
        if event == "line" and report_line is not None:
            report_line(frame.f_code.co_filename, frame.f_lineno)
        return inner

    def outer(frame: FrameType, event: str, arg: object):
        if frame.f_code is code:
            return local
        return inner if report_line is not None and frame.f_code.co_filename in origins else None

    @contextlib.contextmanager
    def tracing() -> Iterator[None]:
        previous = sys.gettrace()
        sys.settrace(outer)
        try:
            yield
        finally:
            sys.settrace(previous)

    return tracing()


def _raised(origin: str, source: str, error: BaseException, namespace: dict[str, object]) -> Raised:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == origin]
    lineno = frames[-1].lineno if frames else None
    lines = source.splitlines()
    line = lines[lineno - 1].strip() if lineno and lineno <= len(lines) else ""
    try:
        text = str(error).strip()
    except Exception:  # the code's own exception, whose text cannot be had
        text = ""
    message = text.splitlines()[0][:MAX_MESSAGE] if text else ""
    shapes = tuple((name, shape) for name in dict.fromkeys(re.findall(r"[A-Za-z_]\w*", line))
                   if (shape := _plain_shape(namespace.get(name))) is not None)
    # Autograd reached is known by the barrier's own class, never by a name a learner's exception may take.
    return Raised(origin, lineno, line[:MAX_MESSAGE], f"{type(error).__name__}: {message}".rstrip(": "), shapes,
                  stop=Stop.AUTOGRAD if isinstance(error, AutogradUsed) else Stop.RAISED)


def _plain_shape(value: object) -> tuple[int, ...] | None:
    """A plain tensor's shape; None for anything else (a nested tensor's, a subclass's, may not be had)."""
    if type(value) is not torch.Tensor or value.is_nested:
        return None
    return tuple(int(n) for n in value.shape)


def execute(snippets: tuple[tuple[str, str], ...], namespace: dict[str, object],
             checkpoints: Mapping[tuple[str, int | None], tuple[str, ...]] = {},
             replacements: Mapping[str, object] = {},
             report_line: Callable[[str, int], None] | None = None) -> tuple[dict[str, object], Raised | None, str]:
    """Run the snippets in order in `namespace`: the gradients finished at the checkpoints, how the
    code stopped (None if it ran to the end), and what it printed."""
    output = io.StringIO()
    raised = None
    finished: dict[str, object] = {}
    BarredEngine.reached = False
    origins = frozenset(origin for _, origin in snippets)
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output), torch.no_grad():
        for source, origin in snippets:
            code = _compiled(source, origin)
            points = {line: list(names) for (where, line), names in checkpoints.items() if where == origin}
            try:
                with _checkpointing(code, points, namespace, replacements, finished, report_line, origins):
                    exec(code, namespace)
            except (Exception, SystemExit) as error:
                raised = _raised(origin, source, error, namespace)
                break
    if (BarredEngine.reached or autograd_restored()) and not (raised and raised.used_autograd):
        raised = Raised(snippets[0][1], None, "", f"{AUTOGRAD_USED}: {AUTOGRAD_MESSAGE}", stop=Stop.AUTOGRAD)
    return finished, raised, output.getvalue()[:protocol.MAX_OUTPUT]


def run(request: protocol.RunRequest, sock: socket.socket, namespace: dict[str, object]) -> protocol.Ran:
    """Run the request's snippets in order in `namespace` (a copy of the request's); what they left there."""
    checkpoints = {(origin, line): names for origin, line, names in request.checkpoints}
    say_line = (lambda origin, line: protocol.send(sock, protocol.Line(origin, line))) if request.trace else None
    finished, raised, output = execute(request.snippets, namespace, checkpoints, request.replacements, say_line)
    return protocol.Ran({name: namespace.get(name) for name in request.names}, finished, raised, output)


@functools.lru_cache(maxsize=64)
def _compiled(source: str, origin: str) -> CodeType:
    """Compiled once: exercise 4's training runs the same code at every step."""
    return compile(source, origin, "exec")
