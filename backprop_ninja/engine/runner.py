"""Running a learner's code, in a worker process, and what comes back from it.

The code never runs here, in the process that holds the truths and decides the verdict: a `Session`
sends it, with each namespace, to a worker (`worker.py`) forked for this check from a zygote that
imported torch once, and reads back plain values (`wire.py`). The session keeps the time: a worker
that is still running when the check's time is up, or that ends its own process, is a verdict on
the code, never a pass.
"""
from __future__ import annotations

import math
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import torch

from . import wire
from .records import Raised, Stop
from .reading import Snippet
from .zygote import fork_worker

# How much memory a worker may take beyond what it holds when it starts, where the platform allows.
DEFAULT_MEMORY = 4 * 1024**3
# How long a worker has to say where it was stuck, once its time is up.
STUCK_GRACE = 0.5
# CPU seconds a worker may use beyond its session's time limit (the limit is kept on the wall
# clock; this stops code that would spin in threads of its own past it).
CPU_MARGIN = 10


def _raised_from_wire(d: object) -> Raised:
    """A worker's report of an exception, every field checked."""
    if not isinstance(d, dict):
        raise wire.WireError("a report of an exception that is not an object")
    lineno, shapes, autograd = d.get("lineno"), d.get("shapes"), d.get("autograd", False)
    if not ((isinstance(lineno, int) or lineno is None) and isinstance(shapes, list) and isinstance(autograd, bool)):
        raise wire.WireError("a report of an exception that is not as the protocol says")
    return Raised(str(d.get("origin"))[:500], lineno, str(d.get("line"))[:500], str(d.get("exception"))[:600],
                  tuple((str(name), tuple(int(x) for x in shape)) for name, shape in shapes),
                  stop=Stop.AUTOGRAD if autograd else Stop.RAISED)


class WorkerRefused(Exception):
    """The worker could not take the request up, for no fault of the code's (a pack file it could not
    load): an error for whoever asked, never a verdict."""


def _refused(reply: dict) -> None:
    if reply.get("refused"):
        raise WorkerRefused(str(reply["refused"])[:1000])


@dataclass(frozen=True)
class BlockRun:
    values: dict[str, object]
    raised: Raised | None
    output: str
    # In a checkpointed run: each gradient's value when the code had finished writing it.
    finished: dict[str, object] = field(default_factory=dict)


class LearnerCode:
    """A learner's snippets, run in `session`'s worker; whether they parse is known here, without
    running anything."""

    def __init__(self, snippets: tuple[Snippet, ...], session: Session):
        self.snippets, self.session = snippets, session
        self.syntax_error: Raised | None = None
        for snippet in snippets:
            try:
                compile(snippet.source, snippet.origin, "exec")
            except SyntaxError as e:
                self.syntax_error = Raised(snippet.origin, e.lineno, (e.text or "").rstrip(),
                                           f"SyntaxError: {e.msg}", stop=Stop.SYNTAX_ERROR)
                break

    def run(self, namespace: Mapping[str, object], names: tuple[str, ...],
            checkpoints: Mapping[tuple[str, int | None], list[str]] | None = None,
            replacements: Mapping[str, object] | None = None) -> BlockRun:
        """See `Session.run`."""
        return self.session.run(self, namespace, names, checkpoints, replacements)

    @property
    def wire_snippets(self) -> list[tuple[str, str]]:
        """The snippets as a worker's request carries them: (source, origin)."""
        return [(s.source, s.origin) for s in self.snippets]

    def variant(self, snippets: tuple[Snippet, ...]) -> LearnerCode:
        """Other snippets (the diagnosis's edits of these), run in the same worker."""
        return LearnerCode(snippets, self.session)


class LearnerStopped(Exception):
    """The learner's backward could not drive a training step."""

    def __init__(self, step: int, reason: str, raised: Raised | None = None):
        super().__init__(reason)
        self.step, self.reason, self.raised = step, reason, raised


class _Ended(Exception):
    """The worker ended, or its time was up, before it replied."""

    def __init__(self, timed_out: bool, where: tuple[str, int] | None = None):
        self.timed_out, self.where = timed_out, where


class Session:
    """One worker process running one learner's code for one check, within a time budget for all
    of its runs. After the code has ended its worker or run out of time, every later run returns
    the same verdict without running."""

    def __init__(self, timeout: float | None, memory: int | None = DEFAULT_MEMORY):
        self.timeout, self.memory = timeout, memory
        self.deadline: float | None = None  # set when the first run starts
        self.stopped: Raised | None = None
        self._sock: socket.socket | None = None
        self._pid = 0

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the worker; a later run starts a fresh one, sharing nothing with it."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            _kill(self._pid)

    def run(self, code: LearnerCode, namespace: Mapping[str, object], names: tuple[str, ...],
            checkpoints: Mapping[tuple[str, int | None], list[str]] | None = None,
            replacements: Mapping[str, object] | None = None) -> BlockRun:
        """Run the code's snippets in order in `namespace`; return the values of `names` they left there.

        With `checkpoints` ((origin, line) -> names, line None for the snippet's end), each named
        gradient is recorded when execution reaches its point, then swapped for its replacement, so
        that the code goes on from right values: what each step does with right inputs."""
        nothing: dict[str, object] = dict.fromkeys(names)
        if code.syntax_error or self.stopped:
            return BlockRun(nothing, code.syntax_error or self.stopped, "")
        blobs: list[wire.Buffer] = []
        request = {
            "snippets": code.wire_snippets,
            "namespace": {name: wire.describe(value, blobs) for name, value in namespace.items()},
            "names": list(names),
            "checkpoints": [[origin, line, list(points)] for (origin, line), points in (checkpoints or {}).items()],
            "replacements": {name: wire.describe(value, blobs) for name, value in (replacements or {}).items()},
        }
        self._start()
        try:
            reply, reply_blobs = self._exchange({**request, "trace": False}, blobs)
            return self._read(reply, reply_blobs, names)
        except _Ended as ended:
            self.stopped = self._verdict(code, ended, request, blobs)
        except (wire.WireError, ValueError, TypeError, KeyError) as e:
            self.stopped = Raised(code.snippets[0].origin, None, "", f"WorkerError: the worker's reply "
                                  f"could not be read ({e})", stop=Stop.WORKER_ERROR)
        self.close()
        return BlockRun(nothing, self.stopped, "")

    def train(self, code: LearnerCode, exercise: str, steps: int, X: torch.Tensor, Y: torch.Tensor,
              expected: Mapping[str, torch.Tensor], progress: Callable[[int, float], None], every: int
              ) -> tuple[dict[str, torch.Tensor], tuple[int, str] | None]:
        """`ninja train`'s run with the code's backward, all in the worker (the learner's own run:
        no verdict rests on it). The trained parameters, checked against `expected`'s shapes and
        dtypes; or the step at which training stopped, and why."""
        if code.syntax_error:
            return {}, (0, f"your code does not parse: {code.syntax_error.exception} at {code.syntax_error.where}")
        blobs: list[wire.Buffer] = []
        request: dict[str, object] = {
            "snippets": code.wire_snippets, "exercise": exercise, "steps": steps,
            "every": every, "examples": {"X": wire.describe(X, blobs), "Y": wire.describe(Y, blobs)}}
        last = [0]

        def follow(step: int, loss: float) -> None:
            last[0] = step
            progress(step, loss)

        try:
            reply, reply_blobs = self._exchange(request, blobs, on_progress=follow)
        except _Ended:
            return {}, (last[0], "your code ended the process")
        finally:
            self.close()
        if reply["stopped"]:
            return {}, (int(reply["stopped"]["step"]), str(reply["stopped"]["reason"]))
        params = {name: wire.rebuild(reply["params"].get(name), reply_blobs) for name in expected}
        if not all(isinstance(p, torch.Tensor) and p.shape == expected[name].shape and p.dtype == expected[name].dtype
                   for name, p in params.items()):
            return {}, (steps, "the worker sent back parameters that are not the model's")
        return {name: p for name, p in params.items() if isinstance(p, torch.Tensor)}, None

    def stream_training(self, code: LearnerCode, exercise: str, steps: int, pack: tuple[str, str] | None = None
                        ) -> Iterator[list[object]]:
        """Exercise 4's training run with the code's backward, all in the worker, which sends each
        step's gradients as it goes (no round trip a step): yields them, unread beyond the wire's
        own checks, for the caller to train its own copy of the model with. Raises LearnerStopped
        where training stopped, within the session's time. `pack` is the source and origin of the
        pack file the exercise comes from, where it is not an installed pack's (WorkerRefused if the
        worker cannot load it)."""
        if code.syntax_error or self.stopped:
            raised = code.syntax_error or self.stopped
            assert raised is not None
            raise LearnerStopped(0, f"your code {'does not parse' if code.syntax_error else 'stopped'}: "
                                    f"{raised.exception} at {raised.where}", raised)
        blobs: list[wire.Buffer] = []
        request: dict[str, object] = {"snippets": code.wire_snippets, "exercise": exercise, "pack": pack,
                                      "steps": steps, "every": steps, "stream": True}
        self._start()
        step = 0
        try:
            for message, message_blobs in self._frames(request, blobs):
                if message.get("kind") == "grads":
                    yield [wire.rebuild(g, message_blobs) for g in message["grads"]]
                    step += 1
                elif message.get("kind") == "reply":
                    _refused(message)
                    if stopped := message["stopped"]:
                        raised = _raised_from_wire(stopped["raised"]) if stopped.get("raised") else None
                        raise LearnerStopped(int(stopped["step"]), str(stopped["reason"])[:1000], raised)
        except _Ended as ended:
            self.stopped = self._verdict(code, ended, request, blobs)
            raise LearnerStopped(step, f"{self.stopped.exception} (at {self.stopped.where})", self.stopped) from None
        except (wire.WireError, ValueError, TypeError, KeyError) as e:
            self.close()
            raise LearnerStopped(step, f"the worker's gradients could not be read ({e})") from None

    def _exchange(self, request: dict[str, object], blobs: list[wire.Buffer], deadline: float | None = None,
                  on_progress: Callable[[int, float], None] | None = None) -> tuple[dict, list[memoryview]]:
        """Send a request; its reply, or _Ended."""
        for message, message_blobs in self._frames(request, blobs, deadline):
            if message.get("kind") == "reply":
                return message, message_blobs
            if message.get("kind") == "progress" and on_progress:
                on_progress(int(message.get("step", 0)), float(message.get("loss", math.nan)))
        raise _Ended(False)  # a worker's last frame is its reply

    def _frames(self, request: dict[str, object], blobs: list[wire.Buffer], deadline: float | None = None
                ) -> Iterator[tuple[dict, list[memoryview]]]:
        """Send a request; yield what the worker sends back, up to its reply; or raise _Ended,
        remembering the last line the worker reported."""
        sock, where = self._start_worker(), None
        deadline = deadline or self.deadline

        def time_left() -> float | None:
            return None if deadline is None else max(0.01, deadline - time.monotonic())

        try:
            sock.settimeout(time_left())
            wire.send_message(sock, request, blobs)
            while True:
                sock.settimeout(time_left())
                message, message_blobs = wire.receive_message(sock)
                if message.get("kind") == "line":
                    where = (str(message.get("origin")), int(message.get("line", 0)))
                    continue
                yield message, message_blobs
                if message.get("kind") == "reply":
                    return
        except TimeoutError:
            raise _Ended(True, self._where_stuck() or where) from None
        except (EOFError, OSError):
            raise _Ended(False, where) from None

    def _start(self) -> None:
        """A worker ready, then the clock started: a zygote replaced is no time of the learner's."""
        self._start_worker()
        if self.deadline is None and self.timeout is not None:
            self.deadline = time.monotonic() + self.timeout

    def _start_worker(self) -> socket.socket:
        if self._sock is None:
            cpu = None if self.timeout is None else math.ceil(self.timeout) + CPU_MARGIN
            self._sock, self._pid = fork_worker({"memory": self.memory, "cpu": cpu})
        return self._sock

    def _where_stuck(self) -> tuple[str, int] | None:
        """Ask the worker, out of time, which of the learner's lines it is running."""
        assert self._sock is not None
        try:
            os.kill(self._pid, signal.SIGUSR1)
            self._sock.settimeout(STUCK_GRACE)
            message, _ = wire.receive_message(self._sock)
            if message.get("kind") == "stuck":
                return str(message.get("origin")), int(message.get("line", 0))
        except (OSError, EOFError, wire.WireError, ValueError, TypeError):
            pass
        return None

    def _verdict(self, code: LearnerCode, ended: _Ended, request: dict, blobs: list[wire.Buffer]) -> Raised:
        """What to tell the learner about a worker that ended or ran out of time."""
        self.close()
        where = ended.where
        if ended.timed_out:
            stop = Stop.TIME_LIMIT
            exception = (f"{Raised.TIME_LIMIT}: still running after {self.timeout:g} s "
                         "(the time limit: --timeout changes it)")
        else:
            stop = Stop.PROCESS_ENDED
            exception = f"{Raised.PROCESS_ENDED}: your code ended the process"
            if where is None and "names" in request:  # run it again, saying each line as it starts, to find where
                try:
                    self._exchange({**request, "trace": True}, blobs, deadline=self.deadline)
                except _Ended as again:
                    where = again.where
                self.close()
        origin, lineno = where if where else (code.snippets[0].origin, None)
        snippet = next((s for s in code.snippets if s.origin == origin), code.snippets[0])
        lines = snippet.source.splitlines()
        line = lines[lineno - 1].strip() if lineno and 0 < lineno <= len(lines) else ""
        return Raised(snippet.origin, lineno or None, line, exception, stop=stop)

    @staticmethod
    def _read(reply: dict, blobs: list[memoryview], names: tuple[str, ...]) -> BlockRun:
        """The reply as values: every part checked, nothing but data taken from it."""
        values, finished = reply["values"], reply["finished"]
        if not isinstance(values, dict) or not isinstance(finished, dict):
            raise wire.WireError("a reply without its values")
        raised = _raised_from_wire(reply["raised"]) if reply["raised"] is not None else None
        return BlockRun({name: wire.rebuild(values.get(name), blobs) for name in names}, raised,
                        str(reply["output"]), {str(name): wire.rebuild(value, blobs) for name, value in finished.items()})


def _kill(pid: int) -> None:
    """End a worker and everything it started (it leads a process group of its own)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
