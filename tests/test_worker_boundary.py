"""The boundary around a worker, tried from inside it.

A: autograd cannot record in a worker, however learner code reaches it. Each attack runs straight in a
real worker (`Session`), past the source check that would name it by its text, so that only the
runtime barrier stands in its way; each is shown, in a plain Python process, to get autograd's
gradient where nothing bars it. In the worker it must not: it raises, or the worker's verdict is that
autograd was used. With bubblewrap's sandbox and without it. Then one such answer to ex2, written so
that the source check does not see it either, checked whole; and exceptions of the code's own, said
as such whatever they hold.

B: learner code can reach the worker's socket and write any frame on it. Whatever it writes is a
verdict on that learner's code, never the grader's failure: each forged frame is a real notebook
graded by the real `ninja grade`, beside a right and a wrong one that still get their true grades.
"""
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
from test_hostile import RIGHT, WRONG, notebook

from backprop_ninja.check import check
from backprop_ninja.engine.reading.cells import Snippet
from backprop_ninja.engine.results.records import Stop
from backprop_ninja.engine.isolation import protocol
from backprop_ninja.engine.isolation.runner import LearnerCode, Session
from backprop_ninja.engine.isolation.sandbox import find
from backprop_ninja.engine.isolation.zygote_client import stop_workers, use_sandbox
from backprop_ninja.packs.makemore4.exercises import EXERCISES

MODES = ["none", "bwrap"]


def _sandbox_or_skip(mode: str):
    """The sandbox a mode asks for (None for "none"); the test is skipped where bubblewrap does not work."""
    if mode == "none":
        return None
    sandbox, why = find("auto")
    if sandbox is None:
        pytest.skip(f"bubblewrap does not work here: {why}")
    return sandbox


# == A. autograd cannot record in a worker ============================================================

_generator = torch.Generator().manual_seed(0)
X, W = torch.randn(4, 3, generator=_generator), torch.randn(3, 2, generator=_generator)
# Each attack leaves its gradient of (x @ W).tanh().sum() with respect to W in dW.
FORWARD = "(x @ Wl).tanh().sum()"


def true_dW() -> torch.Tensor:
    """Autograd's gradient, here in the test process, where nothing bars it."""
    Wl = W.clone().requires_grad_()
    (X @ Wl).tanh().sum().backward()
    assert Wl.grad is not None
    return Wl.grad


BACKWARD_IN_ENABLE_GRAD = f"""
with torch.enable_grad():
    Wl = W.clone().requires_grad_()
    {FORWARD}.backward()
"""

# The graph under `out` walked by hand, from a gradient of ones (out's sum's): each node called in turn,
# never the engine; what reaches W's leaf is dW.
WALKED_BY_HAND = """
fn, nexts = "grad" + "_fn", "next_" + "functions"
root = getattr(out, fn)
order, seen = [], set()
def visit(node):
    seen.add(node)
    for child, _ in getattr(node, nexts):
        if child is not None and child not in seen:
            visit(child)
    order.append(node)
visit(root)
pending = {root: torch.ones_like(out)}
for node in reversed(order):
    g = pending.pop(node)
    if type(node).__name__ == "AccumulateGrad":
        dW = g.reshape(W.shape)
        continue
    grads = node(g)
    for (child, _), grad in zip(getattr(node, nexts), grads if isinstance(grads, tuple) else (grads,)):
        if child is not None and grad is not None:
            pending[child] = pending[child] + grad if child in pending else grad
"""

# name -> (source, the exception it must stop with, or Stop.AUTOGRAD; None: any exception of its own).
ATTACKS: dict[str, tuple[str, str | Stop | None]] = {
    "grad_fn walked by hand": (f"""
enable = getattr(torch, "enable_" + "grad")
with enable():
    Wl = W.clone().requires_grad_()
    out = {FORWARD}
""" + WALKED_BY_HAND, None),
    # An op's dispatch keys are all of its inputs': a nested tensor's autograd key is AutogradNestedTensor.
    "a jagged nested tensor's graph walked by hand": ("""
nested = getattr(torch, "nes" + "ted")
with torch.enable_grad():
    Wl = W.clone().requires_grad_()
    out = (nested.nested_tensor([x], layout=torch.jagged) @ Wl).tanh().values()
""" + WALKED_BY_HAND, None),
    "TorchScript compiled from a string": ('''
jit = getattr(torch, "j" + "it")
unit = jit.CompilationUnit("""
def grad_of(x, W):
    Wl = W.detach().requires_grad_()
    loss = torch.tanh(torch.mm(x, Wl)).sum()
    return torch.autograd.grad([loss], [Wl])[0]
""")
with torch.enable_grad():
    dW = unit.grad_of(x, W)
''', None),
    "forward-mode AD": ("""
fwad = getattr(getattr(torch, "auto" + "grad"), "forward" + "_ad")
dW = torch.zeros_like(W)
with fwad.dual_level():
    for i in range(W.shape[0]):
        for j in range(W.shape[1]):
            tangent = torch.zeros_like(W)
            tangent[i, j] = 1.0
            out = (x @ fwad.make_dual(W, tangent)).tanh().sum()
            dW[i, j] = fwad.unpack_dual(out).tangent
""", None),
    **{f"torch.func.{name}": (
        'transform = getattr(getattr(torch, "fu" + "nc"), ' + f'{name[:2]!r} + {name[2:]!r})\n'
        "f = lambda w: (x @ w).tanh().sum()\n"
        f"dW = {call}\n", Stop.AUTOGRAD)
       for name, call in {"jacfwd": "transform(f)(W)", "grad": "transform(f)(W)",
                          "vjp": "transform(f, W)[1](torch.ones(()))[0]"}.items()},
    "torch.func.grad, its refusal caught": ("""
try:
    dW = getattr(getattr(torch, "fu" + "nc"), "gr" + "ad")(lambda w: (x @ w).tanh().sum())(W)
except Exception:
    dW = torch.zeros_like(W)
""", Stop.AUTOGRAD),
    "a fresh engine from torch.autograd.variable.ImperativeEngine": ("""
import importlib
variable = importlib.import_module("torch.autograd.variable")
variable.Variable._execution_engine = getattr(variable, "Imperative" + "Engine")()
""" + BACKWARD_IN_ENABLE_GRAD + "dW = Wl.grad\n", None),
    "inference_mode(False), then enable_grad and backward": (
        "with torch.inference_mode(False):\n" + BACKWARD_IN_ENABLE_GRAD.replace("\n", "\n    ") + "\ndW = Wl.grad\n",
        Stop.AUTOGRAD),
    **{f"{guard} found through __subclasses__": (
        'C = getattr(torch, "_" + "C")\n'
        'base = getattr(C, "_Exclude" + "DispatchKeyGuard").__mro__[1]\n'
        'found = {c.__name__: c for c in getattr(base, "__sub" + "classes__")()}\n'
        "keys = C.DispatchKeySet(C.DispatchKey.AutogradCPU) | C.DispatchKeySet(C.DispatchKey.ADInplaceOrView)\n"
        f"guard = found[{guard!r}]({arguments})\n" + BACKWARD_IN_ENABLE_GRAD + "dW = Wl.grad\n", Stop.AUTOGRAD)
       for guard, arguments in {"_ForceDispatchKeyGuard": "keys, keys - keys",  # autograd's keys in, none out
                                "_SetExcludeDispatchKeyGuard": "C.DispatchKey.AutogradFunctionality, False"}.items()},
    "a thread running backward": ("""
import threading
box = {}
def work():
""" + BACKWARD_IN_ENABLE_GRAD.replace("\n", "\n    ") + """
    box["dW"] = Wl.grad
thread = threading.Thread(target=work)
thread.start()
thread.join()
dW = box["dW"]
""", "RuntimeError: can't start new thread"),
    "a new Python process running backward": ("""
import subprocess, sys
child = ("import sys, torch; x, W = (torch.tensor(eval(a)) for a in sys.argv[1:]); W.requires_grad_(); "
         "(x @ W).tanh().sum().backward(); print(W.grad.tolist())")
done = subprocess.run([sys.executable, "-c", child, repr(x.tolist()), repr(W.tolist())],
                      capture_output=True, text=True, check=True)
dW = torch.tensor(eval(done.stdout))
""", "PermissionError"),
    "os.fork() running backward": ("""
import os
read, write = os.pipe()
if os.fork() == 0:
""" + BACKWARD_IN_ENABLE_GRAD.replace("\n", "\n    ") + """
    os.write(write, repr(Wl.grad.tolist()).encode())
    os._exit(0)
os.close(write)
dW = torch.tensor(eval(os.read(read, 1 << 16)))
""", "PermissionError"),
}

# Runs each attack in a plain process, under no_grad as a worker runs code: does it get autograd's gradient?
UNBARRED = """
import json, sys, torch
x, W = torch.randn(4, 3), torch.randn(3, 2)
Wl = W.clone().requires_grad_()
(x @ Wl).tanh().sum().backward()
true, got = Wl.grad, {}
for name, source in json.load(sys.stdin).items():
    namespace = {"x": x, "W": W, "torch": torch}
    try:
        with torch.no_grad():
            exec(compile(source, name, "exec"), namespace)
        got[name] = torch.allclose(namespace["dW"], true)
    except Exception as e:
        got[name] = repr(e)[:300]
print(json.dumps(got))
"""


@pytest.fixture(scope="module")
def unbarred() -> dict[str, object]:
    """Each attack, run where nothing bars autograd: True where it got autograd's gradient."""
    attacks = {name: source for name, (source, _) in ATTACKS.items()}
    done = subprocess.run([sys.executable, "-c", UNBARRED], input=json.dumps(attacks), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module", params=MODES)
def in_worker(request):
    """run(source, names): the code run in a fresh worker (a Session of its own, so a fresh process),
    in the namespace x, W, torch; in bubblewrap's sandbox or without it."""
    sandbox = _sandbox_or_skip(request.param)
    stop_workers()  # the zygotes of another mode, if any
    use_sandbox(sandbox)

    def run(source: str, names: tuple[str, ...] = ("dW",)):
        with Session(30) as session:
            return LearnerCode((Snippet(source, "attack.py"),), session).run({"x": X, "W": W, "torch": torch}, names)

    yield run
    use_sandbox(None)
    stop_workers()


@pytest.mark.parametrize("attack", ATTACKS)
def test_an_attack_gets_autograd_s_gradient_where_nothing_bars_it(attack, unbarred):
    """The attacks are real: without the worker's barrier, each computes autograd's gradient."""
    assert unbarred[attack] is True, unbarred[attack]


@pytest.mark.parametrize("attack", ATTACKS)
def test_an_attack_cannot_record_in_the_worker(attack, in_worker):
    source, expected = ATTACKS[attack]
    ran = in_worker(source)
    dW, raised = ran.values["dW"], ran.raised
    assert not (isinstance(dW, torch.Tensor) and dW.shape == W.shape and torch.allclose(dW, true_dW())), \
        "the worker handed back autograd's gradient"
    assert raised is not None, f"the attack ran to its end, leaving dW = {dW!r}"
    assert raised.stop in (Stop.RAISED, Stop.AUTOGRAD), raised  # an exception of the code's, or autograd barred
    if expected is Stop.AUTOGRAD:
        assert raised.used_autograd, raised
    elif expected is not None:
        assert raised.stop == Stop.RAISED and raised.exception.startswith(expected), raised


# What grad mode on records in a worker, for leaves of each kind of tensor (each kind with its own
# autograd dispatch key: AutogradCPU, AutogradNestedTensor, AutogradOther).
RECORDING = {
    "a plain tensor": "(W.clone().requires_grad_() * 2).sum()",
    "a strided nested tensor": "torch.nested.nested_tensor([W], requires_grad=True) * 2",
    "a jagged nested tensor": "torch.nested.nested_tensor([W], layout=torch.jagged, requires_grad=True) * 2",
    "an mkldnn tensor": "W.to_mkldnn().requires_grad_() * 2",
}


@pytest.mark.parametrize("leaf", RECORDING)
def test_enable_grad_records_nothing_in_the_worker(leaf, in_worker):
    """Grad mode on, a leaf that requires grad: still no graph."""
    if "mkldnn" in leaf and not torch.backends.mkldnn.is_available():
        pytest.skip("no mkldnn in this build of torch")
    probe = ("with torch.enable_grad():\n"
             f"    product = {RECORDING[leaf]}\n"
             "    recorded = product.grad_fn is not None\n"
             "    keys = str(torch._C._dispatch_keys(product))\n")
    ran = in_worker(probe, ("recorded", "keys"))
    assert ran.raised is None, ran.raised
    assert ran.values["recorded"] is False, f"a graph recorded, of {ran.values['keys']}"


def test_honest_code_runs_as_it_would_anywhere(in_worker):
    honest = ("with torch.no_grad():\n    y = (x @ W).tanh().sum()\n"
              "with torch.inference_mode():\n    z = (x @ W).tanh().sum(0)\n"
              "asks = x.requires_grad\n"
              "h = torch.tanh(x @ W)\n"
              "dW = x.T @ (1 - h**2)\n")  # the gradient, by hand
    ran = in_worker(honest, ("y", "z", "asks", "dW"))
    assert ran.raised is None, ran.raised
    assert torch.allclose(ran.values["y"], (X @ W).tanh().sum())
    assert torch.allclose(ran.values["z"], (X @ W).tanh().sum(0))
    assert ran.values["asks"] is False
    assert torch.allclose(ran.values["dW"], true_dW())


def test_each_worker_is_under_seccomp_in_an_ipc_namespace_of_its_own(in_worker):
    probe = ("import os\n"
             "seccomp = next(line for line in open('/proc/self/status') if line.startswith('Seccomp:')).strip()\n"
             "ipc = os.readlink('/proc/self/ns/ipc')\n")
    # Each worker's namespace is not the checker's (whose the zygote shares, unsandboxed). Two workers'
    # numbers are not compared: a zygote ends the last worker before it forks the next, and a
    # namespace's number is reused once its last process is gone.
    for ran in (in_worker(probe, ("seccomp", "ipc")), in_worker(probe, ("seccomp", "ipc"))):
        assert ran.raised is None, ran.raised
        assert ran.values["seccomp"] == "Seccomp:\t2"  # a filter in place
        assert ran.values["ipc"].startswith("ipc:[") and ran.values["ipc"] != os.readlink("/proc/self/ns/ipc")


# An answer to ex2 whose dlogits is autograd's: the graph recorded through a jagged nested tensor, its
# softmax's node called by hand (the seed, the loss's gradient with respect to the probabilities, is the
# only step written out). Nothing in its text names autograd to the source check.
NESTED_ANSWER = """
import operator
node_of, edges_of = operator.attrgetter("grad_" + "fn"), operator.attrgetter("next_" + "functions")
with torch.enable_grad():
    leaf = logits.clone().requires_grad_()
    rows = torch.nested.nested_tensor([torch.eye(n, dtype=logits.dtype)], layout=torch.jagged) @ leaf
    probs = rows.softmax(-1).values()
pending = {node_of(probs): -F.one_hot(Yb, probs.shape[1]).to(probs.dtype) / (n * probs.detach())}
order, seen = [], set()
def visit(node):
    seen.add(node)
    for child, _ in edges_of(node):
        if child is not None and child not in seen:
            visit(child)
    order.append(node)
visit(node_of(probs))
for node in reversed(order):
    g = pending.pop(node)
    if type(node).__name__ == "AccumulateGrad":
        dlogits = g.reshape(logits.shape)
        continue
    grads = node(g)
    for (child, _), grad in zip(edges_of(node), grads if isinstance(grads, tuple) else (grads,)):
        if child is not None and grad is not None:
            pending[child] = pending[child] + grad if child in pending else grad
"""


def test_an_answer_autograd_computes_through_a_nested_tensor_does_not_pass():
    logits, Yb = torch.randn(32, 27, generator=_generator), torch.randint(0, 27, (32,), generator=_generator)
    namespace = {"torch": torch, "F": torch.nn.functional, "logits": logits, "Yb": Yb, "n": 32}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nested tensors are a prototype
        exec(NESTED_ANSWER, namespace)  # here, where nothing bars autograd: its gradient
    leaf = logits.clone().requires_grad_()
    torch.nn.functional.cross_entropy(leaf, Yb).backward()
    assert torch.allclose(namespace["dlogits"], leaf.grad, atol=1e-6)
    result = check(EXERCISES["ex2"], (Snippet(NESTED_ANSWER, "ex2.py"),))
    assert not result.passed, "autograd's answer, computed in the worker, passes"


# How the code stopped, said as it was: an exception of its own is that exception, even where reading
# its text or the shapes on its line fails (name -> source, the start of the exception recorded).
OWN_EXCEPTIONS = {
    "a nested tensor named on the raising line": (
        "g = torch.nested.nested_tensor([W, W[:1]], layout=torch.jagged)\n"
        "raise ValueError('mine') if g is not None else None\n", "ValueError"),
    "an exception whose text cannot be read": (
        "class Mine(Exception):\n    def __str__(self):\n        raise RuntimeError('no text')\nraise Mine()\n",
        "Mine"),
}


@pytest.mark.parametrize("case", OWN_EXCEPTIONS)
def test_an_exception_of_the_code_s_own_is_said_as_such(case, in_worker):
    source, exception = OWN_EXCEPTIONS[case]
    raised = in_worker(source).raised
    assert raised is not None and raised.stop == Stop.RAISED and raised.exception.startswith(exception), raised


# == B. a forged worker message is that learner's error ==============================================

TIMEOUT = 6
# Learner code that finds the worker's socket: `serve(sock)` (and `run(request, sock)`) hold it up the stack.
FIND_SOCKET = ("import os, struct, sys, time\n"
               "frame = sys._getframe()\n"
               "while 'sock' not in frame.f_locals:\n"
               "    frame = frame.f_back\n"
               "sock = frame.f_locals['sock']\n")


def forging(header: str, blobs: str = "b''", then: str = "os._exit(0)") -> str:
    """Learner code that writes on the worker's socket a frame (wire.py's: its 8-byte length, its JSON
    part's 4-byte length, the JSON, the blobs) whose JSON part is `header` and whose blobs are `blobs`
    (each a Python expression for bytes, made in the worker), then does `then`."""
    return (FIND_SOCKET + f"header, blobs = {header}, {blobs}\n"
            "sock.sendall(struct.pack('>QI', 4 + len(header) + len(blobs), len(header)))\n"
            f"sock.sendall(header)\nsock.sendall(blobs)\n{then}\n")


def ran_reply(**fields: str) -> str:
    """The JSON text of a "ran" reply, written by hand: each field's JSON text as given, the others empty."""
    reply = {"v": str(protocol.VERSION), "kind": '"ran"', "values": "{}", "finished": "{}", "raised": "null",
             "output": '""',
             "sizes": "[]", **fields}
    return "{" + ", ".join(f'"{key}": {text}' for key, text in reply.items()) + "}"


def raised_report(lineno: str = "1", shapes: str = "[]") -> str:
    return (f'{{"origin": "cell", "lineno": {lineno}, "line": "", "exception": "E: e", "shapes": {shapes}, '
            '"autograd": false}')


def spliced(text: str, **parts: str) -> str:
    """A Python expression for the bytes of the JSON text `text`, each @name@ in it made, in the
    worker, by the Python expression `parts[name]` (so that the test's source stays small)."""
    pieces = re.split(r"@(\w+)@", text)
    return " + ".join(f"({parts[piece]})" if i % 2 else repr(piece.encode()) for i, piece in enumerate(pieces))


DEEP = 100_000
# learner -> (what their answer cell does, its code, how the grader must say it stopped)
FORGED: dict[str, tuple[str, str, str]] = {
    "lineno-infinity": ("a reply whose raised.lineno is Infinity",
                        forging(spliced(ran_reply(raised=raised_report(lineno="Infinity")))), "worker-error"),
    "nested-json": (f"a reply whose JSON nests {DEEP:,} deep",
                    forging(spliced(ran_reply(values='{"x": @deep@}'), deep=f"b'[' * {DEEP} + b']' * {DEEP}")),
                    "worker-error"),
    "huge-shape": ("a tensor of shape [0, 2**62, 2**62] in 0 bytes",
                   forging(spliced(ran_reply(values='{"dlogits": {"tensor": 0, "dtype": "float32", "shape": '
                                                    f'[0, {2**62}, {2**62}]}}}}', sizes="[0]"))),
                   "worker-error"),
    "shapes-infinity": ("a raised report whose shapes hold Infinity, then blocks",
                        forging(spliced(ran_reply(raised=raised_report(shapes='[["logits", [Infinity, 27]]]'))),
                                then="time.sleep(600)"), "worker-error"),
    "output-200mb": ("a reply with 200 MB of output",
                     forging(spliced(ran_reply(output='"@big@"'), big="b'x' * 200_000_000")), "worker-error"),
    # read as the first run's reply; the worker is gone for the next run
    "output-8mb": ("a well-formed reply with 8 MB of output",
                   forging(spliced(ran_reply(output='"@big@"'), big="b'x' * 8_000_000")), "process-ended"),
    "trickled": ("announces a frame, then sends it a byte every 2 s",
                 FIND_SOCKET + "sock.sendall(struct.pack('>Q', 1000))\nfor _ in range(1000):\n"
                               "    sock.sendall(b' ')\n    time.sleep(2)\n", "time-limit"),
    "own-TimeLimit": ("raises its own TimeLimit('TimeLimit: still running')",
                      "class TimeLimit(Exception):\n    pass\nraise TimeLimit('TimeLimit: still running')\n",
                      "raised"),
    "own-AutogradUsed": ("raises its own AutogradUsed('TimeLimit: still running')",
                         "class AutogradUsed(RuntimeError):\n    pass\n"
                         "raise AutogradUsed('TimeLimit: still running')\n", "raised"),
}
# What trickling the announced frame would take, were it waited for.
TRICKLE_SECONDS = 1000 * 2


def _grade(folder: Path, db: Path, mode: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "backprop_ninja", "grade", str(folder), "--gradebook", str(db),
                           "--jobs", "2", "--json", "--timeout", str(TIMEOUT), "--sandbox", mode],
                          cwd=folder.parent, capture_output=True, text=True, timeout=600)
    return done, time.monotonic() - started


@pytest.fixture(scope="module", params=MODES)
def forged(request, tmp_path_factory):
    """The class graded by the real command, then graded again on the same gradebook."""
    mode = request.param
    _sandbox_or_skip(mode)
    tmp = tmp_path_factory.mktemp(f"forged-{mode}")
    folder, db = tmp / "class", tmp / "book.db"
    folder.mkdir()
    for learner, (_, code, _) in FORGED.items():
        (folder / f"{learner}.ipynb").write_text(notebook(code + WRONG))  # a wrong answer, if it ever gets there
    (folder / "zz-right.ipynb").write_text(notebook(RIGHT))
    (folder / "zz-wrong.ipynb").write_text(notebook(WRONG))
    first, seconds = _grade(folder, db, mode)
    size = sum(p.stat().st_size for p in tmp.glob("book.db*"))
    again, _ = _grade(folder, db, mode)
    results = {g["learner"]: g for g in json.loads(first.stdout)} if first.stdout.strip() else {}
    return {"mode": mode, "first": first, "again": again, "seconds": seconds, "results": results, "db": db,
            "size": size}


def _stopped(graded: dict) -> tuple[str, str]:
    """How a submission's code stopped, as recorded: (stop, exception); ("", "") where it ran to its end."""
    errors = graded["results"][0]["errors"]
    return (errors[0]["stop"], errors[0]["exception"]) if errors else ("", "")


def test_every_forgery_gets_a_verdict_of_its_own(forged):
    first, results = forged["first"], forged["results"]
    assert first.returncode == 0 and "Traceback" not in first.stderr, first.stderr[-3000:]
    assert set(results) == set(FORGED) | {"zz-right", "zz-wrong"}
    print(f"\nwhat the grader recorded ({forged['mode']}, {forged['seconds']:.0f} s):")
    for learner, (what, _, _) in FORGED.items():
        graded = results[learner]
        assert graded["error"] is None and len(graded["results"]) == 1, (learner, graded["error"])
        assert not graded["results"][0]["passed"], learner
        stop, exception = _stopped(graded)
        print(f"  {learner:17s} {what:56s} -> {stop or 'ran':12s} {exception[:100]}")


def test_the_class_graded_alongside_gets_its_true_grades(forged):
    results = forged["results"]
    assert results["zz-right"]["results"][0]["passed"]
    wrong = results["zz-wrong"]["results"][0]
    assert not wrong["passed"] and wrong["gradients"][0]["status"] == "fail"


def test_each_forgery_is_said_for_what_it_is(forged):
    for learner, (_, _, stop) in FORGED.items():
        assert _stopped(forged["results"][learner])[0] == stop, (learner, _stopped(forged["results"][learner]))
    for learner in ("lineno-infinity", "nested-json", "huge-shape", "shapes-infinity", "output-200mb"):
        assert "the worker's reply could not be read" in _stopped(forged["results"][learner])[1], learner
    assert _stopped(forged["results"]["trickled"])[1].startswith(f"TimeLimit: still running after {TIMEOUT} s")
    for name in ("TimeLimit", "AutogradUsed"):
        assert _stopped(forged["results"][f"own-{name}"])[1] == f"{name}: TimeLimit: still running"


def test_a_trickled_frame_ends_at_the_time_limit(forged):
    """The deadline is one for the whole exchange, however slowly a frame comes: the grading run ends
    long before the trickle would."""
    assert forged["seconds"] < min(120, TRICKLE_SECONDS / 10), forged["seconds"]


def test_the_gradebook_stays_small(forged):
    assert forged["size"] < 5 * 1024**2, forged["size"]
    with sqlite3.connect(forged["db"]) as db:
        outputs = {learner: json.loads(result)["output"] for learner, result in db.execute(
            "SELECT a.learner, g.result FROM grades g JOIN attempts a ON a.id = g.attempt")}
    assert set(outputs) == set(forged["results"])
    assert all(len(output) <= 64 * 1024 for output in outputs.values())
    # the well-formed reply's output is read, and cut to the protocol's length
    assert set(outputs["output-8mb"]) == {"x"} and len(outputs["output-8mb"]) == 64 * 1024
    assert forged["results"]["output-8mb"]["results"][0]["output"] == outputs["output-8mb"]


def test_grading_again_on_the_same_gradebook_finishes_too(forged):
    again = forged["again"]
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr[-3000:]
    regraded = {g["learner"]: g for g in json.loads(again.stdout)}
    assert set(regraded) == set(forged["results"]) and all(g["skipped"] for g in regraded.values())
    with sqlite3.connect(forged["db"]) as db:
        assert db.execute("SELECT count(*) FROM attempts").fetchone()[0] == len(forged["results"])
