"""The sandbox a grading zygote and its workers run in: bubblewrap where it works here, else nothing
beyond the workers' own resource limits (with a warning that says what that leaves open).

Inside bubblewrap the code sees a read-only root holding only the system's libraries, Python, its
packages and this package (not the folder around it, so neither the submissions, nor the gradebook,
nor anything else of the instructor's); an empty working directory and /tmp, both small tmpfs that
the zygote empties before each worker; no network, no other process (a pid namespace of its own),
and an empty environment. A grader running as root starts bubblewrap as root, to build that view,
and the code then runs as an unprivileged uid of its own (setpriv): root's powers would ignore the
process limits and let the code signal any root process outside. The memory and processes of
the sandbox as a whole are bounded by its cgroup (`cgroup.py`), where the grader may create one.
"""
from __future__ import annotations

import functools
import itertools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# The learner's working directory inside the sandbox; it and the others are emptied for each worker.
WORKDIR = "/sandbox"
SCRATCH = (WORKDIR, "/tmp", "/dev/shm")
SCRATCH_SIZE = 64 * 1024**2
# Processes (threads count too) of the sandbox's own uid (the cgroup, where there is one, bounds
# the whole sandbox's: cgroup.MAX_TASKS).
MAX_UID_TASKS = 256
# Unprivileged uids for sandboxes started by root: one per sandbox, so that process limits (per uid)
# and signals never reach another sandbox, from a range that no account uses.
FIRST_UID = 3_000_000
_sandboxes = itertools.count()
# What the code may read: the system's libraries and the loader's cache, besides Python and its packages.
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc/ld.so.cache")
MODES = ("auto", "bwrap", "none")


class SandboxError(RuntimeError):
    """bubblewrap was asked for and does not work here."""


@dataclass(frozen=True)
class Sandbox:
    bwrap: str
    setpriv: str | None  # where the grader is root: the code drops to a uid of its own

    def command(self, argv: list[str], env: dict[str, str]) -> list[str]:
        """bubblewrap's command line that runs `argv` with `env` only."""
        args = [self.bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv"]
        if self.setpriv is None:  # not root: a user namespace gives the sandbox its own view (and each
            args += ["--unshare-user"]  # worker one of its own within it, for its own IPC namespace)
        args += ["--proc", "/proc", "--dev", "/dev"]
        for folder in SCRATCH:
            args += ["--perms", "1777", "--size", str(SCRATCH_SIZE), "--tmpfs", folder]
        # After the scratch folders, so that a Python under /tmp (a CI's virtualenv) is not hidden.
        readable = [p for p in SYSTEM if os.path.lexists(p)] + _python_paths()
        parents = {str(a) for p in readable if not os.path.islink(p) for a in Path(p).parents}
        # bubblewrap would copy the mode of a parent like a private /root, shutting the uid out
        for parent in sorted(parents - {"/", "/dev", *SCRATCH}):
            args += ["--perms", "0755", "--dir", parent]
        for path in readable:
            args += ["--symlink", os.readlink(path), path] if os.path.islink(path) else ["--ro-bind", path, path]
        args += ["--remount-ro", "/", "--chdir", WORKDIR]
        for name, value in env.items():
            args += ["--setenv", name, value]
        if self.setpriv:
            uid = str(FIRST_UID + (os.getpid() * 1024 + next(_sandboxes)) % 1_000_000)
            args += [self.setpriv, "--reuid", uid, "--regid", uid, "--clear-groups", "--inh-caps=-all",
                     "--bounding-set=-all", "--no-new-privs", "--"]
        return args + argv


# backprop_ninja's own folder, this module being in its engine/isolation/.
PACKAGE = Path(__file__).resolve().parents[2]


def _python_paths() -> list[str]:
    """Python, its packages and this package's own folder: what the zygote imports, and no more."""
    paths = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, sys.exec_prefix)}
    paths |= {os.path.realpath(p) for p in sys.path if p and os.path.isdir(p)
              and not Path(p).resolve() in (PACKAGE.parent, Path.cwd().resolve())}
    paths.add(str(PACKAGE))
    # The links the interpreter runs through, but for those in the system's folders, bound as they are.
    paths.update(p for p in _links(sys.executable) if not any(p.startswith(f"{s}/") for s in SYSTEM))
    # A folder inside another one on the list comes with it.
    return sorted(p for p in paths if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in paths))


def _links(path: str) -> list[str]:
    """The symbolic links on the way from `path` to the file it ends at. Python 3.10 makes a virtualenv's
    bin/python a link to the Python that made it, which may be another virtualenv's, outside what is bound."""
    links = []
    while os.path.islink(path):
        links.append(path)
        path = os.path.normpath(os.path.join(os.path.realpath(os.path.dirname(path)), os.readlink(path)))
    return links


def package_root() -> str:
    """The folder the zygote finds this package in (its PYTHONPATH)."""
    return str(PACKAGE.parent)


def find(mode: str) -> tuple[Sandbox | None, str | None]:
    """The sandbox `mode` asks for, and a warning where the grading goes on without one.
    Raises SandboxError where bubblewrap is required and does not work."""
    if mode == "none":
        return None, "--sandbox none: " + UNSANDBOXED
    sandbox, why = _working_sandbox()
    if sandbox is None and mode == "bwrap":
        raise SandboxError(f"the bubblewrap sandbox does not work here: {why}")
    return sandbox, None if sandbox else f"{why}; {UNSANDBOXED}"


UNSANDBOXED = ("submissions run without the sandbox, in worker processes under time, memory, file-size "
               "and process limits only: their code can read and write what your user can, reach the "
               "network and signal your processes. Install bubblewrap (Debian: apt-get install bubblewrap) "
               "to isolate them.")


@functools.lru_cache(maxsize=1)
def _working_sandbox() -> tuple[Sandbox | None, str]:
    """bubblewrap, if it is installed and a trial run in it works on this machine."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return None, "bubblewrap (bwrap) is not installed"
    setpriv = None
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            return None, "running as root, the sandbox needs setpriv (util-linux) to drop root's powers"
    sandbox = Sandbox(bwrap, setpriv)
    args = sandbox.command([sys.executable, "-S", "-c", "import encodings"], {})
    try:
        trial = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, env={}, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"bubblewrap could not start ({e})"
    if trial.returncode != 0:
        said = trial.stderr.decode(errors="replace").strip().splitlines()
        return None, f"bubblewrap does not run here ({said[-1] if said else f'exit status {trial.returncode}'})"
    return sandbox, ""
