"""The zygote: a process that imports torch once, early, and forks a fresh worker for each check.

Starting it is the first thing `ninja check` does, so that it imports torch while the checking
process does the same, on the other core; each worker forked from it then costs a few milliseconds.
This module imports nothing heavy, so that it can come first.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path


class _Zygote:
    """The process that imports torch once and forks a fresh worker for each session."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        package_root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "backprop_ninja.worker", str(theirs.fileno())], pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, env=env)
        theirs.close()
        self.control = ours

    def fork(self, memory: int | None) -> tuple[socket.socket, int]:
        ours, theirs = socket.socketpair()
        try:
            socket.send_fds(self.control, [json.dumps({"memory": memory}).encode()], [theirs.fileno()])
            reply = self.control.recv(32)
        finally:
            theirs.close()
        if not reply:
            raise ConnectionError("the zygote has ended")
        return ours, int(reply)


_zygote: _Zygote | None = None
_lock = threading.Lock()


def start_workers() -> None:
    """Start the zygote now, so that it imports torch while this process does the same."""
    global _zygote
    with _lock:
        if _zygote is None or _zygote.process.poll() is not None:
            _zygote = _Zygote()


def fork_worker(memory: int | None) -> tuple[socket.socket, int]:
    """A fresh worker: the socket to talk to it and its pid. A zygote that has ended (a learner's
    code can reach it) is replaced by a new one."""
    global _zygote
    start_workers()
    with _lock:
        assert _zygote is not None  # started above
        try:
            return _zygote.fork(memory)
        except OSError:
            _zygote.process.kill()
            _zygote = _Zygote()
            return _zygote.fork(memory)
