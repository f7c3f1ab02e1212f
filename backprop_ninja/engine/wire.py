"""What crosses between the checking process and a worker: length-prefixed frames on a socket.

Both ways, a message is a JSON frame and the raw bytes of the tensors it describes, never a pickle:
the checker must not trust what a worker sends, so it reads it as data and rebuilds from it plain
tensors of known dtypes, and no object of the learner's making ever reaches it.
"""
from __future__ import annotations

import importlib
import json
import math
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

import torch

_LENGTH = struct.Struct(">Q")
_HEADER = struct.Struct(">I")
# The most a reply may hold: far beyond any gradient of these exercises.
MAX_FRAME = 256 * 1024**2
DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
    torch.int8, torch.uint8, torch.bool, torch.complex64, torch.complex128)}
_ITEMSIZE = {d: torch.empty((), dtype=d).element_size() for d in DTYPES.values()}
# Bytes to send: a bytes object, or a view of a tensor's memory.
Buffer = bytes | memoryview


class WireError(Exception):
    """A frame that is not what the protocol says: the other side is gone or misbehaves."""


@dataclass(frozen=True)
class NotATensor:
    """What a learner's value was, when it was not a plain tensor (its type's name only)."""

    type_name: str


def type_name(value: object) -> str:
    """The name of a value's type, as the learner's code made it."""
    return value.type_name if isinstance(value, NotATensor) else type(value).__name__


# -- values: a JSON-able description, and the bytes of each tensor apart ------------------------------

def describe(value: object, blobs: list[Buffer]) -> object:
    """A JSON-able description of `value`; the bytes of a plain tensor go to `blobs`. Anything that is
    not None, a list, a plain tensor, a number, a string or a module is described by its type alone."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return {"list": [describe(v, blobs) for v in value]}
    if type(value) in (int, float, bool, str):
        return {"value": value if type(value) is not str else value[:1000]}  # type: ignore[index]
    if isinstance(value, ModuleType):
        return {"module": value.__name__}
    if type(value) is torch.Tensor and str(value.dtype).removeprefix("torch.") in DTYPES:
        try:
            flat = value.detach().resolve_conj().resolve_neg().contiguous().reshape(-1)
            data = flat.view(torch.uint8).numpy().data
        except Exception:  # a sparse, meta or otherwise unreadable tensor
            return {"type": "unreadable tensor"}
        blobs.append(data)
        return {"tensor": len(blobs) - 1, "dtype": str(value.dtype).removeprefix("torch."),
                "shape": list(value.shape)}
    return {"type": type(value).__name__}


def rebuild(described: object, blobs: Sequence[memoryview], import_modules: bool = False) -> object:
    """The value a description stands for, checked at every step: a plain tensor, a number, a
    string, None, a list, or a NotATensor; a module only where `import_modules` (in a worker, for
    the modules the checker names: torch and its own)."""
    if described is None:
        return None
    if not isinstance(described, dict):
        raise WireError("a value that is not described as the protocol says")
    if isinstance(described.get("list"), list):
        return [rebuild(v, blobs, import_modules) for v in described["list"]]
    if "value" in described and type(described["value"]) in (int, float, bool, str):
        return described["value"]
    if "module" in described:
        name = str(described["module"])
        if import_modules and name.split(".")[0] == "torch":
            return importlib.import_module(name)
        return NotATensor("module")
    if "type" in described:
        return NotATensor(str(described["type"])[:100])
    index, dtype, shape = described.get("tensor"), DTYPES.get(str(described.get("dtype"))), described.get("shape")
    if not (isinstance(index, int) and 0 <= index < len(blobs) and dtype is not None and isinstance(shape, list)
            and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise WireError("a tensor that is not described as the protocol says")
    data = blobs[index]
    if data.nbytes != math.prod(shape) * _ITEMSIZE[dtype]:
        raise WireError("a tensor whose bytes do not match its shape")
    if not data.nbytes:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(data, dtype=torch.uint8).view(dtype).reshape(shape)


def send_message(sock: socket.socket, message: dict[str, object], blobs: Sequence[Buffer] = ()) -> None:
    """One frame: its length, the length of its JSON part, the JSON, then the bytes it describes."""
    header = json.dumps({**message, "sizes": [memoryview(b).nbytes for b in blobs]}).encode()
    body = b"".join([_HEADER.pack(len(header)), header, *blobs])
    sock.sendall(_LENGTH.pack(len(body)) + body)


def receive_message(sock: socket.socket, limit: int = MAX_FRAME) -> tuple[dict, list[memoryview]]:
    """The JSON part of one frame, and the byte strings it describes; EOFError when the other side
    has closed, WireError for anything that is not as the protocol says."""
    (length,) = _LENGTH.unpack(_exactly(sock, _LENGTH.size))
    if length > limit:
        raise WireError(f"a frame of {length} bytes, more than the {limit} allowed")
    body = memoryview(_exactly(sock, length))
    try:
        (header_length,) = _HEADER.unpack(body[:_HEADER.size])
        message = json.loads(bytes(body[_HEADER.size:_HEADER.size + header_length]))
    except (struct.error, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WireError(f"a frame that is not as the protocol says ({e})") from None
    sizes = message.get("sizes") if isinstance(message, dict) else None
    if not (isinstance(sizes, list) and all(isinstance(n, int) and n >= 0 for n in sizes)
            and _HEADER.size + header_length + sum(sizes) == length):
        raise WireError("a frame whose parts do not add up to its length")
    blobs, start = [], _HEADER.size + header_length
    for size in sizes:
        blobs.append(body[start:start + size])
        start += size
    return message, blobs


def _exactly(sock: socket.socket, size: int) -> bytearray:
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        received = sock.recv_into(view[got:], min(size - got, 1 << 22))
        if not received:
            raise EOFError("the other side closed the connection")
        got += received
    return buffer
