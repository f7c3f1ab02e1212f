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
import time
from collections.abc import Sequence
from types import ModuleType
from typing import TypeGuard

import torch

from ..results.records import NotATensor

_LENGTH = struct.Struct(">Q")
_HEADER = struct.Struct(">I")
# The most a reply may hold: far beyond any gradient of these exercises; of it, the most its JSON
# part may be (texts and descriptions; the bytes of tensors come apart).
MAX_FRAME = 256 * 1024**2
MAX_HEADER = 16 * 1024**2
# A tensor's most dimensions and largest size along one; how deep lists may nest in a value.
MAX_DIMENSIONS = 16
MAX_SIZE = MAX_FRAME
MAX_DEPTH = 8
DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
    torch.int8, torch.uint8, torch.bool, torch.complex64, torch.complex128)}
_ITEMSIZE = {d: torch.empty((), dtype=d).element_size() for d in DTYPES.values()}
# Bytes to send: a bytes object, or a view of a tensor's memory.
Buffer = bytes | memoryview


class WireError(Exception):
    """A frame that is not what the protocol says: the other side is gone or misbehaves."""


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


def rebuild(described: object, blobs: Sequence[memoryview], import_modules: bool = False, depth: int = 0) -> object:
    """The value a description stands for, checked at every step: a plain tensor, a number, a
    string, None, a list, or a NotATensor; a module only where `import_modules` (in a worker, for
    the modules the checker names: torch and its own)."""
    if described is None:
        return None
    if not isinstance(described, dict):
        raise WireError("a value that is not described as the protocol says")
    if isinstance(described.get("list"), list):
        if depth >= MAX_DEPTH:
            raise WireError(f"lists nested more than {MAX_DEPTH} deep")
        return [rebuild(v, blobs, import_modules, depth + 1) for v in described["list"]]
    if "value" in described and type(described["value"]) in (int, float, bool, str):
        value = described["value"]
        return value[:1000] if isinstance(value, str) else value
    if "module" in described:
        name = str(described["module"])
        if import_modules and name.split(".")[0] == "torch":
            return importlib.import_module(name)
        return NotATensor("module")
    if "type" in described:
        return NotATensor(str(described["type"])[:100])
    index, dtype, shape = described.get("tensor"), DTYPES.get(str(described.get("dtype"))), described.get("shape")
    if not (type(index) is int and 0 <= index < len(blobs) and dtype is not None and is_shape(shape)):
        raise WireError("a tensor that is not described as the protocol says")
    data = blobs[index]
    if data.nbytes != math.prod(shape) * _ITEMSIZE[dtype]:
        raise WireError("a tensor whose bytes do not match its shape")
    try:
        if not data.nbytes:
            return torch.empty(shape, dtype=dtype)
        return torch.frombuffer(data, dtype=torch.uint8).view(dtype).reshape(shape)
    except RuntimeError as e:  # a shape torch will not make, however its bytes add up
        raise WireError(f"a tensor torch cannot make ({str(e)[:200]})") from None


def is_shape(shape: object) -> TypeGuard[list[int]]:
    """Is `shape` a tensor's shape within the protocol's limits: a list of at most MAX_DIMENSIONS
    whole sizes, each at most MAX_SIZE?"""
    return (isinstance(shape, list) and len(shape) <= MAX_DIMENSIONS
            and all(type(d) is int and 0 <= d <= MAX_SIZE for d in shape))


def send_message(sock: socket.socket, message: dict[str, object], blobs: Sequence[Buffer] = ()) -> None:
    """One frame: its length, the length of its JSON part, the JSON, then the bytes it describes."""
    header = json.dumps({**message, "sizes": [memoryview(b).nbytes for b in blobs]}).encode()
    body = b"".join([_HEADER.pack(len(header)), header, *blobs])
    sock.sendall(_LENGTH.pack(len(body)) + body)


def receive_message(sock: socket.socket, limit: int = MAX_FRAME, deadline: float | None = None
                    ) -> tuple[dict, list[memoryview]]:
    """The JSON part of one frame, and the byte strings it describes; EOFError when the other side
    has closed, TimeoutError once `deadline` (time.monotonic()) has passed, however the frame
    trickles in; WireError for anything that is not as the protocol says."""
    (length,) = _LENGTH.unpack(_exactly(sock, _LENGTH.size, deadline))
    if length > limit:
        raise WireError(f"a frame of {length} bytes, more than the {limit} allowed")
    body = memoryview(_exactly(sock, length, deadline))
    try:
        (header_length,) = _HEADER.unpack(body[:_HEADER.size])
        if header_length > MAX_HEADER:
            raise WireError(f"a frame whose JSON part is {header_length} bytes, more than {MAX_HEADER}")
        message = json.loads(bytes(body[_HEADER.size:_HEADER.size + header_length]))
    except (struct.error, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise WireError(f"a frame that is not as the protocol says ({type(e).__name__})") from None
    sizes = message.get("sizes") if isinstance(message, dict) else None
    if not (isinstance(sizes, list) and all(isinstance(n, int) and n >= 0 for n in sizes)
            and _HEADER.size + header_length + sum(sizes) == length):
        raise WireError("a frame whose parts do not add up to its length")
    blobs, start = [], _HEADER.size + header_length
    for size in sizes:
        blobs.append(body[start:start + size])
        start += size
    return message, blobs


def _exactly(sock: socket.socket, size: int, deadline: float | None) -> bytearray:
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the deadline has passed")
            sock.settimeout(left)
        received = sock.recv_into(view[got:], min(size - got, 1 << 22))
        if not received:
            raise EOFError("the other side closed the connection")
        got += received
    return buffer
