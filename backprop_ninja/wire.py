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
# The most a reply may hold: far beyond any gradient of these exercises.
MAX_FRAME = 256 * 1024**2
DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
    torch.int8, torch.uint8, torch.bool, torch.complex64, torch.complex128)}


class WireError(Exception):
    """A frame that is not what the protocol says: the other side is gone or misbehaves."""


@dataclass(frozen=True)
class NotATensor:
    """What a learner's value was, when it was not a plain tensor (its type's name only)."""

    type_name: str


def type_name(value: object) -> str:
    """The name of a value's type, as the learner's code made it."""
    return value.type_name if isinstance(value, NotATensor) else type(value).__name__


def send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(_LENGTH.pack(len(payload)) + payload)


def receive(sock: socket.socket, limit: int = MAX_FRAME) -> bytes:
    """One frame; EOFError when the other side has closed, WireError when it is too large."""
    (length,) = _LENGTH.unpack(_exactly(sock, _LENGTH.size))
    if length > limit:
        raise WireError(f"a frame of {length} bytes, more than the {limit} allowed")
    return _exactly(sock, length)


def _exactly(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# -- values: a JSON-able description, and the bytes of each tensor apart ------------------------------

def describe(value: object, blobs: list[bytes]) -> object:
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
            data = flat.view(torch.uint8).numpy().tobytes()
        except Exception:  # a sparse, meta or otherwise unreadable tensor
            return {"type": "unreadable tensor"}
        blobs.append(data)
        return {"tensor": len(blobs) - 1, "dtype": str(value.dtype).removeprefix("torch."),
                "shape": list(value.shape)}
    return {"type": type(value).__name__}


def rebuild(described: object, blobs: list[bytes], import_modules: bool = False) -> object:
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
    itemsize = torch.empty((), dtype=dtype).element_size()
    if len(data) != math.prod(shape) * itemsize:
        raise WireError("a tensor whose bytes do not match its shape")
    if not data:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).view(dtype).reshape(shape)


def send_message(sock: socket.socket, message: dict[str, object], blobs: Sequence[bytes] = ()) -> None:
    """A JSON frame that says how many byte frames follow it, then those."""
    send(sock, json.dumps({**message, "blobs": len(blobs)}).encode())
    for blob in blobs:
        send(sock, blob)


def receive_message(sock: socket.socket, limit: int = MAX_FRAME) -> tuple[dict, list[bytes]]:
    """A JSON frame and the byte frames it announces; WireError for anything else."""
    try:
        message = json.loads(receive(sock, limit))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WireError(f"a frame that is not JSON ({e})") from None
    count = message.get("blobs") if isinstance(message, dict) else None
    if not isinstance(count, int) or not 0 <= count <= 10_000:
        raise WireError("a message that does not say how many byte frames follow it")
    return message, [receive(sock, limit) for _ in range(count)]
