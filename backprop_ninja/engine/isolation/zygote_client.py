"""The zygote: a process that imports torch once, early, and forks a fresh worker for each check.

Starting it is the first thing `ninja check` does, so that it imports torch while the checking
process does the same, on the other core; each worker forked from it then costs a few milliseconds.
Each thread that checks has a zygote of its own (each of `ninja grade`'s grading processes has one),
in a sandbox of its own where `use_sandbox` says so. This module imports nothing heavy, so that it
can come first.
"""
from __future__ import annotations

import atexit
import json
import os
import socket
import struct
import subprocess
import sys
import threading

from .cgroup import Cgroup
from .sandbox import Sandbox, package_root

# How long a zygote has to fork a worker, its own start (torch's import) included, and once it has
# forked one; one that does not (a learner's code can stop it) is replaced.
START_TIMEOUT = 60.0
FORK_TIMEOUT = 5.0
# What a worker's environment keeps of this process's; and what it is told: one thread for every
# maths library, as a worker may start no thread (confinement.py), and none of them should try.
PASSED_ON = ("PATH", "LD_LIBRARY_PATH", "LANG")
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


class _Zygote:
    """The process that imports torch once and forks a fresh worker for each session."""

    def __init__(self, sandbox: Sandbox | None) -> None:
        ours, theirs = socket.socketpair()
        argv = [sys.executable, "-m", "backprop_ninja.engine.isolation.zygote_server", str(theirs.fileno())]
        env = {name: os.environ[name] for name in PASSED_ON if name in os.environ} | ONE_THREAD
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root(), os.environ.get("PYTHONPATH")]))
        if sandbox is not None:
            argv = sandbox.command(argv + ["--sandboxed"], env)
        self.sandboxed = sandbox is not None
        self.started = False  # it has forked a worker
        self.cgroup = Cgroup.create()
        self.process = subprocess.Popen(
            self.cgroup.command(argv) if self.cgroup else argv, pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, env={} if sandbox else env)
        theirs.close()
        self.control = ours

    def fork(self, limits: dict[str, int | None]) -> tuple[socket.socket, int]:
        """A new worker: the socket to it, and its pid here (the kernel's word for it, as the
        worker's own pid is that of the sandbox's namespace)."""
        if self.cgroup and not self.sandboxed:  # in a sandbox, the zygote ends them itself
            self.cgroup.kill(sparing=self.process.pid)  # whatever the last worker left running
        ours, theirs = socket.socketpair()
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        try:
            socket.send_fds(self.control, [json.dumps(limits).encode()], [theirs.fileno()])
        finally:
            theirs.close()
        ours.settimeout(FORK_TIMEOUT if self.started else START_TIMEOUT)
        try:
            hello, ancillary, _, _ = ours.recvmsg(1, socket.CMSG_SPACE(struct.calcsize("3i")))
        except TimeoutError:
            ours.close()
            raise ConnectionError("the zygote did not fork a worker in time") from None
        if not hello:
            ours.close()
            raise ConnectionError("the zygote has ended")
        ours.settimeout(None)
        self.started = True
        pid = next(struct.unpack("3i", data)[0] for level, kind, data in ancillary
                   if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS)
        return ours, pid

    def stop(self) -> None:
        self.control.close()
        self.process.kill()
        self.process.wait()
        if self.cgroup:
            self.cgroup.remove()


_sandbox: Sandbox | None = None
_zygotes = threading.local()  # this thread's
_started: list[_Zygote] = []  # every thread's
_lock = threading.Lock()


def use_sandbox(sandbox: Sandbox | None) -> None:
    """Start the zygotes from now on in `sandbox` (None: without one)."""
    global _sandbox
    _sandbox = sandbox


def start_workers() -> None:
    """Start this thread's zygote now, so that it imports torch while this process does the same."""
    zygote = getattr(_zygotes, "zygote", None)
    if zygote is None or zygote.process.poll() is not None:
        _replace(zygote)


def fork_worker(limits: dict[str, int | None]) -> tuple[socket.socket, int]:
    """A fresh worker with `limits` (see zygote_server.py): the socket to talk to it and its pid. A zygote
    that has ended or stopped answering (a learner's code can reach it) is replaced by a new one."""
    start_workers()
    try:
        return _zygotes.zygote.fork(limits)
    except OSError:
        return _replace(_zygotes.zygote).fork(limits)


def _replace(zygote: _Zygote | None) -> _Zygote:
    with _lock:
        if zygote is not None:
            zygote.stop()
            if zygote in _started:  # not stopped already by stop_workers
                _started.remove(zygote)
        _zygotes.zygote = _Zygote(_sandbox)
        _started.append(_zygotes.zygote)
    return _zygotes.zygote


@atexit.register
def stop_workers() -> None:
    """End every thread's zygote, and their sandboxes and cgroups."""
    with _lock:
        while _started:
            _started.pop().stop()
    _zygotes.zygote = None
