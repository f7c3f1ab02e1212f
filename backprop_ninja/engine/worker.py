"""The worker: the process in which a learner's code runs, and the only place it runs.

`python -m backprop_ninja.engine.worker FD` starts a zygote: it imports torch, runs it on one thread
in which autograd cannot record, and then, for each request on the socket FD, forks a fresh worker
that serves one check over a socket of its own. The zygote never runs learner code, and neither it
nor its workers hold a truth or a verdict: they receive namespaces of plain tensors and send back
what the code left in them, as typed messages (`protocol`). A worker loads no pack but the one whose
exercise it trains; it confines itself (`confinement`), and runs the code under `torch.no_grad()`,
as in the lecture, within the memory its request allows; the checker keeps the time.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.abc
import io
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Mapping
from types import CodeType, FrameType

import torch
from torch.autograd.variable import Variable

from . import protocol, sandbox, wire
from .compare import harmless_shape
from .confinement import confine
from .exercise import ForwardExercise
from .records import Raised, Stop
from .registry import PackError, PackPlace, load_place
from .training import Batch, LearnerStopped

AUTOGRAD_USED = Raised.AUTOGRAD_USED
AUTOGRAD_MESSAGE = ("this exercise is a hand-written backward pass: autograd (loss.backward(), "
                    "torch.autograd.grad, torch.func) is not allowed")
# A learner's messages are cut to this length (what it prints, to the protocol's).
MAX_MESSAGE = 500
# Autograd's dispatch keys, every backend's (an operation takes the keys of all its inputs: one
# nested or mkldnn tensor would bring its own), forward mode's included, and functorch's, which would
# put them back: excluded from the worker's thread, no operation records a graph or a tangent,
# whatever the code asks for, as in inference mode. ("Autograd" alone is an alias of them all.)
_AUTOGRAD_KEYS = tuple(name for name in dir(torch._C.DispatchKey) if name.startswith("Autograd") and name != "Autograd"
                       ) + ("ADInplaceOrView", "FuncTorchDynamicLayerFrontMode", "FuncTorchDynamicLayerBackMode",
                            "FuncTorchGradWrapper")
# What would take those keys back out of the excluded set, or enter functorch's autograd.
_KEY_RESTORERS = ((torch._C, "_dispatch_tls_set_dispatch_key_excluded"), (torch._C._functorch, "_grad_increment_nesting"),
                  (torch._C._functorch, "_jvp_increment_nesting"))
_GUARDS_THAT_RESTORE = ("_ForceDispatchKeyGuard", "_SetExcludeDispatchKeyGuard", "_RestorePythonTLSSnapshot",
                        "_InferenceMode")


class AutogradUsed(RuntimeError):
    """Raised inside learner code that reaches autograd's engine (backward, autograd.grad, torch.func)."""


class _BarredEngine:
    """Stands in for autograd's engine, and for the class that makes new ones; remembers being
    reached even if the learner's code catches the exception."""

    reached = False

    def __call__(self, *args: object, **kwargs: object) -> _BarredEngine:
        return self._refuse()

    def __getattr__(self, name: str) -> object:
        return self._refuse()

    def _refuse(self) -> _BarredEngine:
        _BarredEngine.reached = True
        raise AutogradUsed(AUTOGRAD_MESSAGE)


class _GraderImportsBarred(importlib.abc.MetaPathFinder):
    """The grader's own modules are not the learner's to import in here; while the worker loads the
    one pack whose exercise it trains (`lifted`), that pack's may import the engine and the packs."""

    lifted = False

    def find_spec(self, fullname: str, path: object, target: object = None) -> None:
        parts = fullname.split(".")
        if parts[0] == __package__.split(".")[0] and not (self.lifted and parts[1:2] in (["engine"], ["packs"])):
            raise ImportError(f"{fullname} cannot be imported by the code being checked")
        return None


def _bar_autograd() -> None:
    """Autograd cannot record in this process: its keys are excluded from the thread (which every
    worker forked from it continues), and whatever would restore them is barred, wherever torch's
    modules keep a reference to it. The engine is barred too, so that a call into it says what it
    is. (Threads, which would start without the exclusion, are denied by `confinement`.)"""
    for key in _AUTOGRAD_KEYS:
        torch._C._dispatch_tls_set_dispatch_key_excluded(getattr(torch._C.DispatchKey, key), True)
    barred = _BarredEngine()
    originals = {id(getattr(module, name)) for module, name in _KEY_RESTORERS}
    for module in list(sys.modules.values()):
        for name, value in list(getattr(module, "__dict__", {}).items()):
            if id(value) in originals:
                setattr(module, name, barred)
    for name in _GUARDS_THAT_RESTORE:  # a class is reachable from its base too: barred in itself
        guard = getattr(torch._C, name)
        guard.__init__ = guard.__enter__ = barred
    torch._C._InferenceMode = _InferenceModeKept  # type: ignore[misc, assignment]
    Variable._execution_engine = barred  # type: ignore[assignment]
    setattr(torch._C, "_ImperativeEngine", barred)


_key_excluded = torch._C._dispatch_tls_is_dispatch_key_excluded


def _autograd_restored() -> bool:
    """Has the code found a way to let autograd record again?"""
    return not all(_key_excluded(getattr(torch._C.DispatchKey, key)) for key in _AUTOGRAD_KEYS)


class _InferenceModeKept:
    """`torch.inference_mode()` where nothing records already: nothing to do; `inference_mode(False)`,
    which would let autograd record again, is barred."""

    def __init__(self, mode: bool) -> None:
        if not mode:
            _BarredEngine()._refuse()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# -- one run of the learner's code -------------------------------------------------------------------

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


def _execute(snippets: tuple[tuple[str, str], ...], namespace: dict[str, object],
             checkpoints: Mapping[tuple[str, int | None], tuple[str, ...]] = {},
             replacements: Mapping[str, object] = {},
             report_line: Callable[[str, int], None] | None = None) -> tuple[dict[str, object], Raised | None, str]:
    """Run the snippets in order in `namespace`: the gradients finished at the checkpoints, how the
    code stopped (None if it ran to the end), and what it printed."""
    output = io.StringIO()
    raised = None
    finished: dict[str, object] = {}
    _BarredEngine.reached = False
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
    if (_BarredEngine.reached or _autograd_restored()) and not (raised and raised.used_autograd):
        raised = Raised(snippets[0][1], None, "", f"{AUTOGRAD_USED}: {AUTOGRAD_MESSAGE}", stop=Stop.AUTOGRAD)
    return finished, raised, output.getvalue()[:protocol.MAX_OUTPUT]


def run(request: protocol.RunRequest, sock: socket.socket) -> protocol.Ran:
    """Run the request's snippets in order in its namespace; what they left there."""
    namespace = dict(request.namespace)
    checkpoints = {(origin, line): names for origin, line, names in request.checkpoints}
    say_line = (lambda origin, line: protocol.send(sock, protocol.Line(origin, line))) if request.trace else None
    finished, raised, output = _execute(request.snippets, namespace, checkpoints, request.replacements, say_line)
    return protocol.Ran({name: namespace.get(name) for name in request.names}, finished, raised, output)


class _LearnerBackward:
    """The learner's code for a training exercise as a backward pass for `TrainingRun`, run here at
    each step."""

    def __init__(self, snippets: tuple[tuple[str, str], ...], exercise: ForwardExercise):
        self.snippets, self.exercise = snippets, exercise
        self.step = 0

    def __call__(self, params: dict[str, torch.Tensor], batch: Batch) -> tuple[float, list[torch.Tensor]]:
        namespace = self.exercise.namespace_from(params, batch)
        loss = namespace["loss"]
        assert isinstance(loss, torch.Tensor)  # the forward pass's own
        loss_value = loss.item()  # before the code runs, which may rebind the name
        _, raised, _ = _execute(self.snippets, namespace)
        if raised:
            raise LearnerStopped(self.step, f"your code raised at {raised.where}: {raised.exception}", raised)
        values = self.exercise.gradients_from({name: namespace.get(name) for name in self.exercise.collected})
        grads = [self._usable(f"d{name}", values.get(f"d{name}"), param) for name, param in params.items()]
        self.step += 1
        return loss_value, grads

    def _usable(self, name: str, value: object, param: torch.Tensor) -> torch.Tensor:
        if isinstance(value, torch.Tensor) and value.shape == param.shape and value.dtype == param.dtype:
            return value  # the common case, on the hot path of every training step
        if not isinstance(value, torch.Tensor):
            raise LearnerStopped(self.step, f"{name} is not computed" if value is None
                                 else f"{name} is of type {wire.type_name(value)}, not a tensor")
        if not harmless_shape(tuple(value.shape), tuple(param.shape)):
            raise LearnerStopped(self.step, f"{name} has shape {tuple(value.shape)}, "
                                 f"{name[1:]} is {tuple(param.shape)}")
        return value.reshape(param.shape).to(param.dtype)


def _training_exercise(key: str, place: PackPlace) -> ForwardExercise:
    """The exercise `key`, from its pack alone: a worker holds no other pack's definitions."""
    _GraderImportsBarred.lifted = True
    try:
        exercise = {e.key: e for e in load_place(place).exercises}.get(key)
    finally:
        _GraderImportsBarred.lifted = False
    assert isinstance(exercise, ForwardExercise)  # the checker trains only such exercises, of a pack it knows
    return exercise


def train(request: protocol.TrainRequest, sock: socket.socket) -> protocol.Reply:
    """A whole training run with the learner's backward, here, with no round trip a step: for
    `ninja train`, which decides no verdict, saying its progress; or, `stream`ing, sending each
    step's gradients as they come, for the checker to train its own copy of the model with (only
    what it computes from them counts). The reply holds the trained parameters, or where training
    stopped."""
    try:
        exercise = _training_exercise(request.exercise, request.pack)
    except PackError as e:
        return protocol.Refused(f"{e}: where it trains, a pack file may import of backprop_ninja "
                                "only its engine and its built-in packs")

    def progress(step: int, loss: float) -> None:
        if step % request.every == 0 or step == request.steps:
            protocol.send(sock, protocol.Progress(step, loss))

    run = exercise.training_run(request.examples)
    learner = _LearnerBackward(request.snippets, exercise)

    def streaming(params: dict[str, torch.Tensor], batch: Batch) -> tuple[float, list]:
        loss, grads = learner(params, batch)
        protocol.send(sock, protocol.StepGradients(tuple(grads)))
        return loss, grads

    stopped = None
    try:
        if request.stream:
            run.train(streaming, request.steps)
        else:
            run.train(learner, request.steps, progress=progress)
    except LearnerStopped as stop:
        stopped = protocol.Stopped(stop.step, stop.reason, stop.raised)
    return protocol.Trained(stopped, dict(run.params))


@functools.lru_cache(maxsize=64)
def _compiled(source: str, origin: str) -> CodeType:
    """Compiled once: exercise 4's training runs the same code at every step."""
    return compile(source, origin, "exec")


def _where_stuck(sock: socket.socket, origins: set[str]):
    """On SIGUSR1 (the checker's time is up): say the learner's line being run, if any."""
    def handler(signum: int, frame: FrameType | None) -> None:
        while frame is not None and frame.f_code.co_filename not in origins:
            frame = frame.f_back
        if frame is not None:
            protocol.send(sock, protocol.Stuck(frame.f_code.co_filename, frame.f_lineno))
    return handler


def serve(sock: socket.socket) -> None:
    """Answer requests until the checker closes the connection."""
    while True:
        try:
            request = protocol.receive(sock, expect=(protocol.RunRequest, protocol.TrainRequest))
        except EOFError:
            return
        assert isinstance(request, protocol.RunRequest | protocol.TrainRequest)  # as `expect` says
        signal.signal(signal.SIGUSR1, _where_stuck(sock, {origin for _, origin in request.snippets}))
        protocol.send(sock, run(request, sock) if isinstance(request, protocol.RunRequest) else train(request, sock))


def _worker(sock: socket.socket, limits: dict[str, int | None], own_uid: bool) -> None:
    sock.send(b"!")  # the checker learns this process's pid from the message itself (SO_PASSCRED)
    os.setsid()  # a process group of its own, so that the checker can end it and all it started
    _limit(limits, own_uid)
    confine()
    sys.meta_path.insert(0, _GraderImportsBarred())
    try:
        serve(sock)
    finally:
        os._exit(0)


def _limit(limits: dict[str, int | None], own_uid: bool) -> None:
    """Memory, CPU time, file sizes, core dumps; and processes, where the uid is the sandbox's own
    (process limits count every process of the uid)."""
    memory, cpu = limits.get("memory"), limits.get("cpu")
    if memory is not None:
        in_use = int(open("/proc/self/statm").read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        # The hard limit too: the soft one alone, the learner's code could raise back to the hard one.
        resource.setrlimit(resource.RLIMIT_AS, (in_use + memory, in_use + memory))
    if cpu is not None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_FSIZE, (sandbox.SCRATCH_SIZE, sandbox.SCRATCH_SIZE))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if own_uid:
        resource.setrlimit(resource.RLIMIT_NPROC, (sandbox.MAX_UID_TASKS, sandbox.MAX_UID_TASKS))


def zygote(control: socket.socket, sandboxed: bool) -> None:
    """Fork a worker for each socket the checker sends, each from a clean slate: no process left
    from the last one (in a sandbox), and its scratch folders empty."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped as they end
    _bar_autograd()  # once, here: a worker is forked from this thread, whose state it keeps
    if sandboxed:
        scratch = list(sandbox.SCRATCH)
        _not_dumpable()
    else:
        scratch = [tempfile.mkdtemp(prefix="backprop-ninja-")]
        os.chdir(scratch[0])
    own_uid = os.getuid() >= sandbox.FIRST_UID
    try:
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(control, 1024, 1)
            except OSError:
                return
            if not message or not fds:
                return
            if sandboxed:
                with contextlib.suppress(ProcessLookupError):  # none left
                    os.kill(-1, signal.SIGKILL)  # every other process in the sandbox's namespace
                _remove_ipc()
            for folder in scratch:
                _empty(folder)
            if os.fork() == 0:
                control.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _worker(socket.socket(fileno=fds[0]), json.loads(message), own_uid)
            os.close(fds[0])
    finally:
        if not sandboxed:
            shutil.rmtree(scratch[0], ignore_errors=True)


def _empty(folder: str) -> None:
    """Remove everything in `folder`, whatever modes the code left on it, but for what is mounted
    there (Python, where it lives under /tmp)."""
    for entry in os.scandir(folder):
        try:
            if os.path.ismount(entry.path):
                continue
            if entry.is_dir(follow_symlinks=False):
                os.chmod(entry.path, 0o700)
                _empty(entry.path)
                os.rmdir(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            pass  # not the code's to leave, and not ours to remove (a file of the system's)


def _remove_ipc() -> None:
    """System V shared memory, queues and semaphores outlive their processes: remove any left."""
    if any(len(open(f"/proc/sysvipc/{kind}").readlines()) > 1 for kind in ("shm", "msg", "sem")):
        with contextlib.suppress(OSError):  # no ipcrm (util-linux) here: nothing more to do
            subprocess.run(["ipcrm", "--all"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _not_dumpable() -> None:
    """Workers run as this process's uid: without this, one could trace the zygote and so reach
    every worker forked after it."""
    PR_SET_DUMPABLE = 4
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


if __name__ == "__main__":
    torch.set_num_threads(1)  # small tensors: threads only fight over the cores (threads.py)
    zygote(socket.socket(fileno=int(sys.argv[1])), "--sandboxed" in sys.argv[2:])
