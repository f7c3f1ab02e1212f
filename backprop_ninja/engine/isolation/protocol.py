"""The messages between the checker and a worker: typed, versioned, and checked field by field on
receipt, each field within its limit, by both sides.

What a worker sends is untrusted: learner code can reach the worker's socket and write any frame on
it. So nothing it sends is used until `receive` has made it one of these messages, every number of
its type and range and every text cut to its length; anything else is a `wire.WireError`, which the
checker takes as a verdict on that learner's code ("the worker's reply could not be read"), never as
its own failure.
"""
from __future__ import annotations

import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from ..results.records import Raised, Stop
from . import wire

VERSION = 2  # 2: Stuck carries what the code has left so far
# The longest a text field may be once received: a line of code, an origin, an exception's text;
# a reason training stopped; what the code printed.
MAX_TEXT = 600
MAX_REASON = 1000
MAX_OUTPUT = 64 * 1024
# The most names a reply may carry values for, and the most steps a training run may take.
MAX_NAMES = 10_000
MAX_STEPS = 10_000_000
MAX_LINE = 10_000_000


# -- reading fields, each checked ---------------------------------------------------------------------

def _text(d: Mapping, key: str, limit: int = MAX_TEXT) -> str:
    value = d.get(key)
    if not isinstance(value, str):
        raise wire.WireError(f"{key!r} is not a text")
    return value[:limit]


def _whole(d: Mapping, key: str, most: int, optional: bool = False) -> int:
    value = d.get(key)
    if value is None and optional:
        return 0
    if type(value) is not int or not 0 <= value <= most:
        raise wire.WireError(f"{key!r} is not a whole number up to {most}")
    return value


def _flag(d: Mapping, key: str) -> bool:
    value = d.get(key)
    if type(value) is not bool:
        raise wire.WireError(f"{key!r} is not true or false")
    return value


def _list(d: Mapping, key: str, most: int = MAX_NAMES) -> list:
    value = d.get(key)
    if not isinstance(value, list) or len(value) > most:
        raise wire.WireError(f"{key!r} is not a list of at most {most}")
    return value


def _values(d: Mapping, key: str, blobs: Sequence[memoryview], import_modules: bool = False) -> dict[str, object]:
    value = d.get(key)
    if not isinstance(value, dict) or len(value) > MAX_NAMES or not all(isinstance(k, str) for k in value):
        raise wire.WireError(f"{key!r} is not a table of values")
    return {name[:MAX_TEXT]: wire.rebuild(v, blobs, import_modules) for name, v in value.items()}


def _describe_all(values: Mapping[str, object], blobs: list[wire.Buffer]) -> dict[str, object]:
    return {name: wire.describe(value, blobs) for name, value in values.items()}


def _raised_to_wire(raised: Raised | None) -> dict | None:
    if raised is None:
        return None
    return {"origin": raised.origin, "lineno": raised.lineno, "line": raised.line, "exception": raised.exception,
            "shapes": [[name, list(shape)] for name, shape in raised.shapes], "autograd": raised.used_autograd}


def _raised_from_wire(d: object) -> Raised | None:
    """A worker's report of how the code stopped. Why it stopped is the typed flag `autograd` (set
    by the barrier's own class in the worker), never the exception's text."""
    if d is None:
        return None
    if not isinstance(d, dict):
        raise wire.WireError("a report of an exception that is not an object")
    lineno = _whole(d, "lineno", MAX_LINE, optional=True) or None
    shapes = []
    for entry in _list(d, "shapes", 100):
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                and wire.is_shape(entry[1])):
            raise wire.WireError("a shape that is not a list of sizes")
        shapes.append((entry[0][:MAX_TEXT], tuple(entry[1])))
    return Raised(_text(d, "origin"), lineno, _text(d, "line"), _text(d, "exception"), tuple(shapes),
                  stop=Stop.AUTOGRAD if _flag(d, "autograd") else Stop.RAISED)


# -- the messages ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunRequest:
    """Run the snippets, in order, in the namespace; send back the values of `names`. With
    checkpoints, each gradient is recorded where it is finished and swapped for its replacement;
    with `trace`, each line is said as it starts."""

    KIND: ClassVar = "run"
    snippets: tuple[tuple[str, str], ...]  # (source, origin)
    namespace: Mapping[str, object]
    names: tuple[str, ...]
    checkpoints: tuple[tuple[str, int | None, tuple[str, ...]], ...] = ()
    replacements: Mapping[str, object] = field(default_factory=dict)
    trace: bool = False

    def to_wire(self, blobs: list[wire.Buffer]) -> dict:
        return {"snippets": [list(s) for s in self.snippets], "namespace": _describe_all(self.namespace, blobs),
                "names": list(self.names), "checkpoints": [[o, line, list(ns)] for o, line, ns in self.checkpoints],
                "replacements": _describe_all(self.replacements, blobs), "trace": self.trace}

    @classmethod
    def from_wire(cls, d: dict, blobs: Sequence[memoryview]) -> RunRequest:
        return cls(_snippets(d), _values(d, "namespace", blobs, import_modules=True),
                   tuple(_names(d, "names")),
                   tuple((str(o), line, tuple(names)) for o, line, names in _list(d, "checkpoints")),
                   _values(d, "replacements", blobs), _flag(d, "trace"))


@dataclass(frozen=True)
class TrainRequest:
    """Train the exercise's model with the snippets as its backward: `ninja train`'s run, saying its
    progress `every` steps; or, `stream`ing, sending each step's gradients. `pack` is where the
    worker finds the exercise's pack (`registry.place_of`): an installed pack's name, or the source
    and origin of a pack file."""

    KIND: ClassVar = "train"
    snippets: tuple[tuple[str, str], ...]
    exercise: str
    pack: str | tuple[str, str]
    steps: int
    every: int
    stream: bool = False
    examples: tuple[torch.Tensor, torch.Tensor] | None = None  # `ninja train --data`'s X and Y

    def to_wire(self, blobs: list[wire.Buffer]) -> dict:
        return {"snippets": [list(s) for s in self.snippets], "exercise": self.exercise, "steps": self.steps,
                "every": self.every, "stream": self.stream,
                "pack": self.pack if isinstance(self.pack, str) else list(self.pack),
                "examples": [wire.describe(t, blobs) for t in self.examples] if self.examples else None}

    @classmethod
    def from_wire(cls, d: dict, blobs: Sequence[memoryview]) -> TrainRequest:
        pack = d.get("pack")
        if not (isinstance(pack, str) or isinstance(pack, list) and len(pack) == 2
                and all(isinstance(p, str) for p in pack)):
            raise wire.WireError("a pack that is neither a name nor a file's source and origin")
        examples = [wire.rebuild(t, blobs) for t in d["examples"]] if d.get("examples") else None
        if examples and not all(isinstance(t, torch.Tensor) for t in examples):
            raise wire.WireError("examples that are not tensors")
        return cls(_snippets(d), _text(d, "exercise"), pack if isinstance(pack, str) else (pack[0], pack[1]),
                   _whole(d, "steps", MAX_STEPS), max(1, _whole(d, "every", MAX_STEPS)), _flag(d, "stream"),
                   (examples[0], examples[1]) if examples else None)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Line:
    """The worker, tracing, has reached a line of the learner's code."""

    KIND: ClassVar = "line"
    origin: str
    line: int

    def to_wire(self, blobs: list[wire.Buffer]) -> dict:
        return {"origin": self.origin, "line": self.line}

    @classmethod
    def from_wire(cls, d: dict, blobs: Sequence[memoryview]) -> Line:
        return cls(_text(d, "origin"), _whole(d, "line", MAX_LINE))


@dataclass(frozen=True)
class Stuck:
    """Out of time, the worker says the learner's line it is running and, in a run, what the code has
    left under the asked names so far: what it wrote before its time ran out is graded."""

    KIND: ClassVar = "stuck"
    origin: str
    line: int
    values: dict[str, object] = field(default_factory=dict)

    def to_wire(self, blobs: list[wire.Buffer]) -> dict:
        return {"origin": self.origin, "line": self.line, "values": _describe_all(self.values, blobs)}

    @classmethod
    def from_wire(cls, d: dict, blobs: Sequence[memoryview]) -> Stuck:
        return cls(_text(d, "origin"), _whole(d, "line", MAX_LINE), _values(d, "values", blobs))


@dataclass(frozen=True)
class Progress:
    """`ninja train`'s progress: the loss at a step."""

    KIND: ClassVar = "progress"
    step: int
    loss: float

    def to_wire(self, blobs: list[wire.Buffer]) -> dict:
        return {"step": self.step, "loss": self.loss}

    @classmethod
    def from_wire(cls, d: dict, blobs: Sequence[memoryview]) -> Progress:
        loss = d.get("loss")
        if type(loss) not in (int, float):
            raise wire.WireError("a loss that is not a number")
        return cls(_whole(d, "step", MAX_STEPS), float(loss))  # type: ignore[arg-type]


@dataclass(frozen=True)
class StepGradients:
    """A training step's gradients, one per parameter, as the learner's code left them."""

    KIND: ClassVar = "grads"
    grads: tuple[object, ...]

    def to_wire(self, blobs: list[wire.Buffer]) -> dict:
        return {"grads": [wire.describe(g, blobs) for g in self.grads]}

    @classmethod
    def from_wire(cls, d: dict, blobs: Sequence[memoryview]) -> StepGradients:
        return cls(tuple(wire.rebuild(g, blobs) for g in _list(d, "grads")))


@dataclass(frozen=True)
class Ran:
    """A run's reply: the values the code left under the asked names, each gradient as it was where
    it was finished (with checkpoints), how the code stopped (None: it ran to its end), what it printed."""

    KIND: ClassVar = "ran"
    values: dict[str, object]
    finished: dict[str, object]
    raised: Raised | None
    output: str

    def to_wire(self, blobs: list[wire.Buffer]) -> dict:
        return {"values": _describe_all(self.values, blobs), "finished": _describe_all(self.finished, blobs),
                "raised": _raised_to_wire(self.raised), "output": self.output[:MAX_OUTPUT]}

    @classmethod
    def from_wire(cls, d: dict, blobs: Sequence[memoryview]) -> Ran:
        return cls(_values(d, "values", blobs), _values(d, "finished", blobs), _raised_from_wire(d.get("raised")),
                   _text(d, "output", MAX_OUTPUT))


@dataclass(frozen=True)
class Stopped:
    """Where a training run with the learner's backward stopped, and why."""

    step: int
    reason: str
    raised: Raised | None = None


@dataclass(frozen=True)
class Trained:
    """A training run's reply: the trained parameters, or where training stopped."""

    KIND: ClassVar = "trained"
    stopped: Stopped | None
    params: dict[str, object]

    def to_wire(self, blobs: list[wire.Buffer]) -> dict:
        stopped = self.stopped and {"step": self.stopped.step, "reason": self.stopped.reason,
                                    "raised": _raised_to_wire(self.stopped.raised)}
        return {"stopped": stopped, "params": _describe_all(self.params, blobs)}

    @classmethod
    def from_wire(cls, d: dict, blobs: Sequence[memoryview]) -> Trained:
        stopped = d.get("stopped")
        if stopped is not None and not isinstance(stopped, dict):
            raise wire.WireError("'stopped' is not an object")
        where = None if stopped is None else Stopped(_whole(stopped, "step", MAX_STEPS),
                                                     _text(stopped, "reason", MAX_REASON),
                                                     _raised_from_wire(stopped.get("raised")))
        return cls(where, _values(d, "params", blobs))


@dataclass(frozen=True)
class Refused:
    """The worker could not take the request up, for no fault of the code's (a pack file it could
    not load)."""

    KIND: ClassVar = "refused"
    reason: str

    def to_wire(self, blobs: list[wire.Buffer]) -> dict:
        return {"reason": self.reason}

    @classmethod
    def from_wire(cls, d: dict, blobs: Sequence[memoryview]) -> Refused:
        return cls(_text(d, "reason", MAX_REASON))


Request = RunRequest | TrainRequest
Reply = Ran | Trained | Refused
Message = Request | Line | Stuck | Progress | StepGradients | Reply
_KINDS: dict[str, type] = {kind.KIND: kind for kind in (RunRequest, TrainRequest, Line, Stuck, Progress,
                                                        StepGradients, Ran, Trained, Refused)}
REPLIES = (Ran, Trained, Refused)


def _snippets(d: Mapping) -> tuple[tuple[str, str], ...]:
    snippets = _list(d, "snippets")
    if not all(isinstance(s, list) and len(s) == 2 and all(isinstance(p, str) for p in s) for s in snippets):
        raise wire.WireError("snippets that are not (source, origin) pairs")
    return tuple((source, origin) for source, origin in snippets)


def _names(d: Mapping, key: str) -> list[str]:
    names = _list(d, key)
    if not all(isinstance(n, str) for n in names):
        raise wire.WireError(f"{key!r} is not a list of names")
    return names


def send(sock: socket.socket, message: Message) -> None:
    """Send one message, with the bytes of the tensors it holds."""
    blobs: list[wire.Buffer] = []
    body = message.to_wire(blobs)
    wire.send_message(sock, {"v": VERSION, "kind": message.KIND, **body}, blobs)


def receive(sock: socket.socket, deadline: float | None = None, expect: tuple[type, ...] | None = None) -> Message:
    """The next message, every field checked (of the kinds in `expect`, where given); WireError for
    anything else, TimeoutError once `deadline` (time.monotonic()) has passed, EOFError once the
    other side has closed."""
    frame, blobs = wire.receive_message(sock, deadline=deadline)
    if frame.get("v") != VERSION:
        raise wire.WireError(f"a message of protocol version {str(frame.get('v'))[:20]}, not {VERSION}")
    kind = _KINDS.get(frame.get("kind"))  # type: ignore[arg-type]
    if kind is None or (expect is not None and kind not in expect):
        raise wire.WireError(f"a message of an unexpected kind ({str(frame.get('kind'))[:40]})")
    decode: Callable[[dict, Sequence[memoryview]], Message] = kind.from_wire  # type: ignore[attr-defined]
    try:
        return decode(frame, blobs)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError) as e:
        raise wire.WireError(f"a {frame['kind']} message that is not as the protocol says ({e})") from None
