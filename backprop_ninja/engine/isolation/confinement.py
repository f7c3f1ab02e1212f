"""What the kernel stops a worker from doing, set by the worker itself before it runs any learner
code: starting a process, a thread or a program; sharing IPC objects with any other worker; and the
system calls a check never needs that would reach beyond the worker (mounts, namespaces, keyrings,
tracing another process).

A seccomp filter denies those calls, where the kernel allows one; else a process limit leaves no
room for a new process (it binds an unprivileged uid only, as the sandbox's is). Each worker first
moves into an IPC namespace of its own (in a user namespace of its own, which needs no privilege),
so that a message queue or shared memory left by one worker is gone with it. Threads are denied
too: a new thread would start without the worker's state (autograd's keys excluded, `bars.py`).
"""
from __future__ import annotations

import ctypes
import os
import platform
import resource
import struct
from dataclasses import dataclass

_CLONE_NEWUSER, _CLONE_NEWIPC = 0x10000000, 0x08000000
_EPERM, _ENOSYS = 1, 38
# The calls denied, by name; clone3 says "not implemented" so that the C library falls back to
# clone, which the filter denies by its number too.
_DENIED = ("clone", "fork", "vfork", "execve", "execveat", "unshare", "setns", "mount", "umount2",
           "pivot_root", "chroot", "open_tree", "move_mount", "fsopen", "fsmount", "ptrace",
           "process_vm_readv", "process_vm_writev", "pidfd_getfd", "add_key", "request_key", "keyctl",
           "msgget", "shmget", "semget", "mq_open", "bpf", "perf_event_open", "userfaultfd",
           "io_uring_setup", "kexec_load", "init_module", "finit_module")
_NOT_IMPLEMENTED = ("clone3",)
# Each architecture's audit number and its system call numbers (fork and vfork are x86-64's only).
_ARCHITECTURES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (0xC000003E, dict(
        clone=56, fork=57, vfork=58, execve=59, execveat=322, unshare=272, setns=308, mount=165, umount2=166,
        pivot_root=155, chroot=161, open_tree=428, move_mount=429, fsopen=430, fsmount=432, ptrace=101,
        process_vm_readv=310, process_vm_writev=311, pidfd_getfd=438, add_key=248, request_key=249, keyctl=250,
        msgget=68, shmget=29, semget=64, mq_open=240, bpf=321, perf_event_open=298, userfaultfd=323,
        io_uring_setup=425, kexec_load=246, init_module=175, finit_module=313, clone3=435)),
    "aarch64": (0xC00000B7, dict(
        clone=220, execve=221, execveat=281, unshare=97, setns=268, mount=40, umount2=39, pivot_root=41,
        chroot=51, open_tree=428, move_mount=429, fsopen=430, fsmount=432, ptrace=117, process_vm_readv=270,
        process_vm_writev=271, pidfd_getfd=438, add_key=217, request_key=218, keyctl=219, msgget=186,
        shmget=194, semget=190, mq_open=180, bpf=280, perf_event_open=241, userfaultfd=282,
        io_uring_setup=425, kexec_load=104, init_module=105, finit_module=273, clone3=435)),
}
# x86-64's x32 calls carry this bit in their number: a second table the filter does not list.
_X32_BIT = 0x40000000
# Classic BPF, as seccomp reads it.
_LOAD_WORD, _JUMP_IF_EQUAL, _JUMP_IF_AT_LEAST, _RETURN = 0x20, 0x15, 0x35, 0x06
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_NUMBER_AT, _ARCH_AT = 0, 4  # in struct seccomp_data
_PR_GET_DUMPABLE, _PR_SET_DUMPABLE, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, _PR_SET_NO_NEW_PRIVS = 3, 4, 22, 2, 38
_CAPABILITY_VERSION_3 = 0x20080522


@dataclass(frozen=True)
class Confinement:
    """What holds in this worker."""

    own_ipc: bool  # an IPC namespace of its own
    filtered: bool  # the seccomp filter is in place (else the process limit, where it binds)


def confine() -> Confinement:
    """Confine this process, which must be single-threaded, for the rest of its life."""
    libc = ctypes.CDLL(None, use_errno=True)
    own_ipc = _own_ipc_namespace(libc)
    _drop_capabilities(libc)
    filtered = _deny_calls(libc)
    if not filtered:
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    return Confinement(own_ipc, filtered)


def _own_ipc_namespace(libc: ctypes.CDLL) -> bool:
    """An IPC namespace of this process's own, in a user namespace that maps its uid and gid to
    themselves, so that the files it writes are still its own. A process that may not be dumped
    (a sandboxed zygote's worker) cannot write its own maps: it may be, for as long as that takes."""
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWIPC) != 0:
        return False
    dumpable = libc.prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0)
    libc.prctl(_PR_SET_DUMPABLE, ctypes.c_ulong(1), 0, 0, 0)
    try:
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    except OSError:
        pass  # its own IPC namespace all the same; only files it creates would have no owner
    finally:
        libc.prctl(_PR_SET_DUMPABLE, ctypes.c_ulong(dumpable), 0, 0, 0)
    return True


def _drop_capabilities(libc: ctypes.CDLL) -> None:
    """None of the powers a new user namespace gives its first process, and none to gain later."""
    header = struct.pack("Ii", _CAPABILITY_VERSION_3, 0)
    libc.capset(ctypes.c_char_p(header), ctypes.c_char_p(bytes(24)))
    libc.prctl(_PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))


def _deny_calls(libc: ctypes.CDLL) -> bool:
    """The seccomp filter, where this architecture's numbers are known and the kernel takes it."""
    if platform.machine() not in _ARCHITECTURES:
        return False
    program = _program(*_ARCHITECTURES[platform.machine()], x32=platform.machine() == "x86_64")

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

    filter_program = Program(len(program) // 8, program)
    return libc.prctl(_PR_SET_SECCOMP, ctypes.c_ulong(_SECCOMP_MODE_FILTER), ctypes.byref(filter_program),
                      ctypes.c_ulong(0), ctypes.c_ulong(0)) == 0


def _program(arch: int, numbers: dict[str, int], x32: bool) -> bytes:
    """The filter: another architecture's calls (i386's, on x86-64) denied, then each denied call."""
    def step(code: int, k: int, if_true: int = 0, if_false: int = 0) -> bytes:
        return struct.pack("HBBI", code, if_true, if_false, k)

    deny = step(_RETURN, _ERRNO | _EPERM)
    steps = [step(_LOAD_WORD, _ARCH_AT), step(_JUMP_IF_EQUAL, arch, 1, 0), deny, step(_LOAD_WORD, _NUMBER_AT)]
    if x32:
        steps += [step(_JUMP_IF_AT_LEAST, _X32_BIT, 0, 1), deny]
    for name, errno in [(n, _EPERM) for n in _DENIED] + [(n, _ENOSYS) for n in _NOT_IMPLEMENTED]:
        if name in numbers:
            steps += [step(_JUMP_IF_EQUAL, numbers[name], 0, 1), step(_RETURN, _ERRNO | errno)]
    return b"".join(steps + [step(_RETURN, _ALLOW)])
