"""The worker protocol on a real socket pair, without a worker: every kind of message comes back as it
went, and whatever is not as the protocol says is a WireError (or a TimeoutError at the deadline),
never a crash of the reader."""
import json
import socket
import struct
import threading
import time

import pytest
import torch

from backprop_ninja.engine.isolation import protocol, wire
from backprop_ninja.engine.results.records import Raised, Stop

pytestmark = pytest.mark.fast  # pure pieces: the fast tier


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def frame(header: bytes, blobs: bytes = b"") -> bytes:
    """A frame as wire.py lays it out, from a JSON part written by hand."""
    body = struct.pack(">I", len(header)) + header + blobs
    return struct.pack(">Q", len(body)) + body


def forged(fields: dict, sizes=(), blobs: bytes = b"") -> bytes:
    return frame(json.dumps({"v": protocol.VERSION, **fields, "sizes": list(sizes)}).encode(), blobs)


RAISED = Raised("cell 3", 4, "dh = dlogits @ W2", "RuntimeError: mat1 and mat2 shapes cannot be multiplied",
                (("dlogits", (32, 27)), ("W2", (64, 27))))
MESSAGES = [
    protocol.RunRequest((("y = x * 2\n", "cell 1"),), {"x": torch.arange(6.0).reshape(2, 3), "n": 32},
                        ("y",), (("cell 1", None, ("y",)),), {"y": torch.zeros(2, 3)}, trace=True),
    protocol.TrainRequest((("grads = []\n", "ex4.py"),), "ex4", "makemore4", 50, 10, stream=True),
    protocol.TrainRequest((("grads = []\n", "a.py"),), "mine", ("PACK = None\n", "p.py"), 5, 1,
                          examples=(torch.ones(3, 2, dtype=torch.int64), torch.zeros(3, dtype=torch.int64))),
    protocol.Line("cell 1", 7),
    protocol.Stuck("cell 1", 9),
    protocol.Stuck("cell 1", 9, {"dlogits": torch.ones(2, 3), "dh": None}),
    protocol.Progress(100, 2.5),
    protocol.StepGradients((torch.ones(2, 2), None, [torch.zeros(1)], 3.0)),
    protocol.Ran({"dW": torch.eye(3, dtype=torch.float64), "n": 32, "s": "text"}, {"dW": torch.eye(3)}, RAISED,
                 "printed\n"),
    protocol.Ran({}, {}, None, ""),
    protocol.Trained(protocol.Stopped(3, "dW1 is not computed", RAISED), {}),
    protocol.Trained(None, {"W1": torch.ones(4, 2)}),
    protocol.Refused("the pack file cannot be loaded"),
]


def same(a: object, b: object) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if hasattr(a, "__dataclass_fields__"):
        return type(a) is type(b) and all(same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    return a == b


@pytest.mark.parametrize("message", MESSAGES, ids=[f"{m.KIND}-{i}" for i, m in enumerate(MESSAGES)])
def test_every_kind_of_message_comes_back_as_it_went(pair, message):
    ours, theirs = pair
    protocol.send(theirs, message)
    assert same(protocol.receive(ours, time.monotonic() + 5), message)


def test_why_code_stopped_is_the_typed_flag_never_the_text(pair):
    ours, theirs = pair
    mimic = Raised("cell", 1, "raise TimeLimit()", "TimeLimit: still running after 60 s")
    protocol.send(theirs, protocol.Ran({}, {}, mimic, ""))
    assert protocol.receive(ours).raised.stop == Stop.RAISED
    protocol.send(theirs, protocol.Ran({}, {}, Raised("cell", 1, "", "AutogradUsed: x", stop=Stop.AUTOGRAD), ""))
    assert protocol.receive(ours).raised.stop == Stop.AUTOGRAD


TENSOR = {"tensor": 0, "dtype": "float32", "shape": [2]}
FORGED = {
    "a line number of Infinity": forged({"kind": "ran", "values": {}, "finished": {}, "output": "", "raised": {
        "origin": "c", "lineno": float("inf"), "line": "", "exception": "E", "shapes": [], "autograd": False}}),
    "a shape of Infinity in a raised report": forged({"kind": "ran", "values": {}, "finished": {}, "output": "",
                                                      "raised": {"origin": "c", "lineno": 1, "line": "",
                                                                 "exception": "E", "shapes": [["x", [float("inf")]]],
                                                                 "autograd": False}}),
    "a flag that is a number": forged({"kind": "ran", "values": {}, "finished": {}, "output": "", "raised": {
        "origin": "c", "lineno": 1, "line": "", "exception": "E", "shapes": [], "autograd": 1}}),
    "JSON nested 100,000 deep": frame(b'{"v": 1, "kind": "ran", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "lists nested past the limit": forged({"kind": "ran", "finished": {}, "output": "", "raised": None,
                                           "values": {"x": json.loads('{"list": [' * 20 + "]}" * 20)}}),
    "a tensor of 2**62 by 2**62 rows of nothing": forged({"kind": "ran", "finished": {}, "output": "", "raised": None,
                                                          "values": {"x": {**TENSOR, "shape": [0, 2**62, 2**62]}}},
                                                         sizes=[0]),
    "a tensor whose bytes do not add up": forged({"kind": "ran", "finished": {}, "output": "", "raised": None,
                                                  "values": {"x": TENSOR}}, sizes=[3], blobs=b"abc"),
    "a tensor that points past its blobs": forged({"kind": "ran", "finished": {}, "output": "", "raised": None,
                                                   "values": {"x": {**TENSOR, "tensor": 5}}}),
    "another protocol's version": frame(json.dumps({"v": 99, "kind": "ran", "sizes": []}).encode()),
    "an unknown kind": forged({"kind": "verdict", "passed": True}),
    "a JSON part that is not an object": frame(b"[1, 2, 3]"),
    "a JSON part that is not JSON": frame(b"{not json"),
    "a JSON part longer than allowed": struct.pack(">Q", 8) + struct.pack(">I", wire.MAX_HEADER + 1) + b"1234",
    "sizes that do not add up to the frame": forged({"kind": "refused", "reason": "x"}, sizes=[10]),
}


@pytest.mark.parametrize("case", FORGED, ids=list(FORGED))
def test_a_frame_not_as_the_protocol_says_is_a_wire_error(pair, case):
    ours, theirs = pair
    threading.Thread(target=theirs.sendall, args=(FORGED[case],), daemon=True).start()
    with pytest.raises(wire.WireError):
        protocol.receive(ours, time.monotonic() + 5)


def test_texts_are_cut_to_their_limits_on_receipt(pair):
    ours, theirs = pair
    long_output = forged({"kind": "ran", "values": {}, "finished": {}, "raised": None, "output": "x" * 10**6})
    long_reason = forged({"kind": "refused", "reason": "y" * 10**5})
    threading.Thread(target=theirs.sendall, args=(long_output + long_reason,), daemon=True).start()
    assert len(protocol.receive(ours).output) == protocol.MAX_OUTPUT
    assert len(protocol.receive(ours).reason) == protocol.MAX_REASON


def test_a_reply_of_a_kind_not_expected_is_refused(pair):
    ours, theirs = pair
    protocol.send(theirs, protocol.Refused("no"))
    with pytest.raises(wire.WireError, match="unexpected kind"):
        protocol.receive(ours, expect=(protocol.Ran,))


def test_a_frame_that_trickles_in_ends_at_the_one_deadline(pair):
    """One byte at a time, each within any per-read timeout: the deadline is for the whole message."""
    ours, theirs = pair
    whole = forged({"kind": "refused", "reason": "slow"})
    stop = threading.Event()

    def trickle():
        for byte in whole:
            if stop.wait(0.05):
                return
            theirs.sendall(bytes([byte]))

    threading.Thread(target=trickle, daemon=True).start()
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        protocol.receive(ours, start + 0.3)
    stop.set()
    assert time.monotonic() - start < 1.0
