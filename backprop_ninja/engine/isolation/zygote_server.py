"""The zygote's side of the pair (`zygote_client` is the checker's): the process in which a learner's
code runs, and the only place it runs.

`python -m backprop_ninja.engine.isolation.zygote_server FD` starts a zygote: it imports torch, bars
autograd on its one thread (`bars`), and then, for each request on the socket FD, forks a fresh worker
that serves one check over a socket of its own. The zygote never runs learner code, and neither it
nor its workers hold a truth or a verdict: they receive namespaces of plain tensors and send back
what the code left in them, as typed messages (`protocol`). A worker loads no pack but the one whose
exercise it trains (`learner_training`); it confines itself (`confinement`), and runs the code
(`execution`) under `torch.no_grad()`, as in the lecture, within the memory its request allows; the
checker keeps the time.
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from types import FrameType

import torch

from . import protocol, sandbox
from .bars import GraderImportsBarred, bar_autograd
from .confinement import confine
from .execution import run
from .learner_training import train


def _where_stuck(sock: socket.socket, origins: set[str], namespace: dict[str, object] | None = None,
                 names: tuple[str, ...] = ()):
    """On SIGUSR1 (the checker's time is up): say the learner's line being run, if any, and what the
    code has left in `namespace` under `names` so far."""
    def handler(signum: int, frame: FrameType | None) -> None:
        while frame is not None and frame.f_code.co_filename not in origins:
            frame = frame.f_back
        if frame is not None:
            values = {name: namespace.get(name) for name in names} if namespace is not None else {}
            protocol.send(sock, protocol.Stuck(frame.f_code.co_filename, frame.f_lineno, values))
    return handler


def serve(sock: socket.socket) -> None:
    """Answer requests until the checker closes the connection."""
    while True:
        try:
            request = protocol.receive(sock, expect=(protocol.RunRequest, protocol.TrainRequest))
        except EOFError:
            return
        assert isinstance(request, protocol.RunRequest | protocol.TrainRequest)  # as `expect` says
        origins = {origin for _, origin in request.snippets}
        if isinstance(request, protocol.RunRequest):
            namespace = dict(request.namespace)  # the handler's too: what the code left, out of time
            signal.signal(signal.SIGUSR1, _where_stuck(sock, origins, namespace, request.names))
            protocol.send(sock, run(request, sock, namespace))
        else:
            signal.signal(signal.SIGUSR1, _where_stuck(sock, origins))
            protocol.send(sock, train(request, sock))


def _worker(sock: socket.socket, limits: dict[str, int | None], own_uid: bool) -> None:
    sock.send(b"!")  # the checker learns this process's pid from the message itself (SO_PASSCRED)
    os.setsid()  # a process group of its own, so that the checker can end it and all it started
    _limit(limits, own_uid)
    confine()
    sys.meta_path.insert(0, GraderImportsBarred())
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
    bar_autograd()  # once, here: a worker is forked from this thread, whose state it keeps
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
