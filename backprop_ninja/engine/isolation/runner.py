"""Running a learner's code, in a worker process, and what comes back from it.

The code never runs here, in the process that holds the truths and decides the verdict: a `Session`
sends it, with each namespace, to a worker (`zygote_server.py`) forked for this check from a zygote that
imported torch once, and reads back plain values, as typed messages checked field by field
(`protocol.py`). The session keeps the time: a worker that is still running when the check's time is
up, or that ends its own process, or that sends what the protocol does not say, is a verdict on the
code, never a pass.
"""
from __future__ import annotations

import math
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace

import torch

from ..exercises.training import LearnerStopped
from ..reading.cells import Snippet
from ..results.records import Raised, Stop
from . import protocol, wire
from .zygote_client import fork_worker

# How much memory a worker may take beyond what it holds when it starts, where the platform allows.
DEFAULT_MEMORY = 4 * 1024**3
# How long a worker has to say where it was stuck, once its time is up.
STUCK_GRACE = 0.5
# Once a plain run is out of time, each later plain run (the exercise's other instances) still runs
# for this long, in all this much, so that what the code writes before it is stuck is graded on every
# instance, as for code that raises; the verdict stays the time limit.
OVERTIME_RUN = 2.0
OVERTIME = 10.0
# CPU seconds a worker may use beyond its session's time limit (the limit is kept on the wall
# clock; this stops code that would spin in threads of its own past it).
CPU_MARGIN = 10


class WorkerRefused(Exception):
    """The worker could not take the request up, for no fault of the code's (a pack file it could not
    load): an error for whoever asked, never a verdict."""


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
    def wire_snippets(self) -> tuple[tuple[str, str], ...]:
        """The snippets as a worker's request carries them: (source, origin)."""
        return tuple((s.source, s.origin) for s in self.snippets)

    def variant(self, snippets: tuple[Snippet, ...]) -> LearnerCode:
        """Other snippets (the diagnosis's edits of these), run in the same worker."""
        return LearnerCode(snippets, self.session)


class _Ended(Exception):
    """The worker ended, or its time was up, before it replied (what its code had left by then, where
    it said)."""

    def __init__(self, timed_out: bool, where: tuple[str, int] | None = None, values: Mapping[str, object] = {}):
        self.timed_out, self.where, self.values = timed_out, where, values


class Session:
    """One worker process running one learner's code for one check, within a time budget for all
    of its runs (the time between them, while others are checked, is not theirs). After the code
    has ended its worker or run out of time, every later run returns the same verdict without
    running."""

    def __init__(self, timeout: float | None, memory: int | None = DEFAULT_MEMORY):
        self.timeout, self.memory = timeout, memory
        self.spent = 0.0  # seconds of the time limit the runs have taken so far
        self.stopped: Raised | None = None
        self.overtime = 0.0  # seconds run past the time limit (see OVERTIME)
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
        if code.syntax_error:
            return BlockRun(nothing, code.syntax_error, "")
        request = protocol.RunRequest(
            code.wire_snippets, namespace, names,
            tuple((origin, line, tuple(points)) for (origin, line), points in (checkpoints or {}).items()),
            replacements or {})
        if self.stopped:
            return self._overtime(request, names) if self._in_overtime(request) else BlockRun(nothing, self.stopped, "")
        try:
            reply = self._exchange(request)
            if not isinstance(reply, protocol.Ran):
                raise wire.WireError(f"a reply of the wrong kind to a run ({reply.KIND})")
            return BlockRun({name: reply.values.get(name) for name in names}, reply.raised, reply.output,
                            reply.finished)
        except _Ended as ended:
            self.stopped = self._verdict(code, ended, request)
            self.close()
            return BlockRun({name: ended.values.get(name) for name in names}, self.stopped, "")
        except wire.WireError as e:
            self.stopped = Raised(code.snippets[0].origin, None, "", f"WorkerError: the worker's reply "
                                  f"could not be read ({e})", stop=Stop.WORKER_ERROR)
        self.close()
        return BlockRun(nothing, self.stopped, "")

    def train(self, code: LearnerCode, exercise: str, pack: str | tuple[str, str], steps: int,
              X: torch.Tensor, Y: torch.Tensor, expected: Mapping[str, torch.Tensor],
              progress: Callable[[int, float], None], every: int
              ) -> tuple[dict[str, torch.Tensor], tuple[int, str] | None]:
        """`ninja train`'s run with the code's backward, all in the worker (the learner's own run:
        no verdict rests on it). The trained parameters, checked against `expected`'s shapes and
        dtypes; or the step at which training stopped, and why."""
        if code.syntax_error:
            return {}, (0, f"your code does not parse: {code.syntax_error.exception} at {code.syntax_error.where}")
        request = protocol.TrainRequest(code.wire_snippets, exercise, pack, steps, every, examples=(X, Y))
        last = [0]

        def follow(step: int, loss: float) -> None:
            last[0] = step
            progress(step, loss)

        try:
            reply = self._exchange(request, on_progress=follow)
        except _Ended:
            return {}, (last[0], "your code ended the process")
        except wire.WireError as e:
            return {}, (last[0], f"the worker's reply could not be read ({e})")
        finally:
            self.close()
        if not isinstance(reply, protocol.Trained):
            return {}, (last[0], "the worker sent a reply of the wrong kind")
        if reply.stopped:
            return {}, (reply.stopped.step, reply.stopped.reason)
        params = {name: reply.params.get(name) for name in expected}
        if not all(isinstance(p, torch.Tensor) and p.shape == expected[name].shape and p.dtype == expected[name].dtype
                   for name, p in params.items()):
            return {}, (steps, "the worker sent back parameters that are not the model's")
        return {name: p for name, p in params.items() if isinstance(p, torch.Tensor)}, None

    def stream_training(self, code: LearnerCode, exercise: str, pack: str | tuple[str, str], steps: int
                        ) -> Iterator[tuple[object, ...]]:
        """Exercise 4's training run with the code's backward, all in the worker, which sends each
        step's gradients as it goes (no round trip a step): yields them, unread beyond the
        protocol's own checks, for the caller to train its own copy of the model with. Raises
        LearnerStopped where training stopped, within the session's time. `pack` is where the worker
        finds the exercise (`registry.place_of`; WorkerRefused if it cannot load it)."""
        if code.syntax_error or self.stopped:
            raised = code.syntax_error or self.stopped
            assert raised is not None
            raise LearnerStopped(0, f"your code {'does not parse' if code.syntax_error else 'stopped'}: "
                                    f"{raised.exception} at {raised.where}", raised)
        request = protocol.TrainRequest(code.wire_snippets, exercise, pack, steps, steps, stream=True)
        step = 0
        try:
            for message in self._messages(request):
                if isinstance(message, protocol.StepGradients):
                    yield message.grads
                    step += 1
                elif isinstance(message, protocol.Refused):
                    raise WorkerRefused(message.reason)
                elif isinstance(message, protocol.Trained) and message.stopped:
                    stopped = message.stopped
                    raise LearnerStopped(stopped.step, stopped.reason, stopped.raised)
        except _Ended as ended:
            self.stopped = self._verdict(code, ended, request)
            raise LearnerStopped(step, f"{self.stopped.exception} (at {self.stopped.where})", self.stopped) from None
        except wire.WireError as e:
            self.close()
            raise LearnerStopped(step, f"the worker's gradients could not be read ({e})") from None

    def _in_overtime(self, request: protocol.RunRequest) -> bool:
        """May this run go on past the time limit: a plain run, after a plain run ran out of time?"""
        return (self.stopped is not None and self.stopped.stop == Stop.TIME_LIMIT and not request.checkpoints
                and self.overtime + OVERTIME_RUN <= OVERTIME)

    def _overtime(self, request: protocol.RunRequest, names: tuple[str, ...]) -> BlockRun:
        """A plain run past the time limit, for OVERTIME_RUN seconds: what the code left by then."""
        assert self.stopped is not None  # as _in_overtime says
        started = time.monotonic()
        values: Mapping[str, object]
        try:
            reply = self._exchange(request, budget=OVERTIME_RUN)
            values = reply.values if isinstance(reply, protocol.Ran) else {}
        except _Ended as ended:
            values = ended.values
        except wire.WireError:
            values = {}
        self.close()
        self.overtime += time.monotonic() - started
        return BlockRun({name: values.get(name) for name in names}, self.stopped, "")

    def _exchange(self, request: protocol.Request, on_progress: Callable[[int, float], None] | None = None,
                  budget: float | None = None) -> protocol.Reply:
        """Send a request; its reply, or _Ended (within `budget` seconds where given, past the session's
        own time, which it does not count)."""
        for message in self._messages(request, budget):
            if isinstance(message, protocol.REPLIES):
                return message
            if isinstance(message, protocol.Progress) and on_progress:
                on_progress(message.step, message.loss)
        raise _Ended(False)  # a worker's last message is its reply

    def _messages(self, request: protocol.Request, budget: float | None = None) -> Iterator[protocol.Message]:
        """Send a request; yield what the worker sends back, up to its reply; or raise _Ended,
        remembering the last line the worker reported. The session's time left (or `budget`) is one
        deadline for the whole exchange, however the worker's messages come."""
        sock, where = self._start_worker(), None
        started = time.monotonic()
        left = budget if budget is not None else None if self.timeout is None else max(0.0, self.timeout - self.spent)
        deadline = None if left is None else started + left
        try:
            sock.settimeout(None if deadline is None else max(0.01, deadline - started))
            protocol.send(sock, request)
            while True:
                message = protocol.receive(sock, deadline, expect=_FROM_WORKER)
                if isinstance(message, protocol.Stuck):
                    raise wire.WireError("a report of where the code is stuck, unasked")
                if isinstance(message, protocol.Line):
                    where = (message.origin, message.line)
                    continue
                yield message
                if isinstance(message, protocol.REPLIES):
                    return
        except TimeoutError:
            stuck = self._where_stuck()
            raise _Ended(True, (stuck.origin, stuck.line) if stuck else where, stuck.values if stuck else {}) from None
        except (EOFError, OSError):
            raise _Ended(False, where) from None
        finally:
            if budget is None:
                self.spent += time.monotonic() - started

    def _start_worker(self) -> socket.socket:
        """A worker ready (a zygote replaced is no time of the learner's)."""
        if self._sock is None:
            cpu = None if self.timeout is None else math.ceil(self.timeout) + CPU_MARGIN
            self._sock, self._pid = fork_worker({"memory": self.memory, "cpu": cpu})
        return self._sock

    def _where_stuck(self) -> protocol.Stuck | None:
        """Ask the worker, out of time, which of the learner's lines it is running, and what its code has
        left so far."""
        assert self._sock is not None
        try:
            os.kill(self._pid, signal.SIGUSR1)
            message = protocol.receive(self._sock, time.monotonic() + STUCK_GRACE, expect=(protocol.Stuck,))
            if isinstance(message, protocol.Stuck):
                return message
        except (OSError, EOFError, wire.WireError):
            pass
        return None

    def _verdict(self, code: LearnerCode, ended: _Ended, request: protocol.Request) -> Raised:
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
            if where is None and isinstance(request, protocol.RunRequest):
                # run it again, saying each line as it starts, to find where
                try:
                    self._exchange(replace(request, trace=True))
                except _Ended as again:
                    where = again.where
                except wire.WireError:
                    pass
                self.close()
        origin, lineno = where if where else (code.snippets[0].origin, None)
        snippet = next((s for s in code.snippets if s.origin == origin), code.snippets[0])
        lines = snippet.source.splitlines()
        line = lines[lineno - 1].strip() if lineno and 0 < lineno <= len(lines) else ""
        return Raised(snippet.origin, lineno or None, line, exception, stop=stop)


_FROM_WORKER = (protocol.Line, protocol.Stuck, protocol.Progress, protocol.StepGradients, *protocol.REPLIES)


def _kill(pid: int) -> None:
    """End a worker and everything it started (it leads a process group of its own)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
