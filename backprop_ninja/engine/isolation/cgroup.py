"""A cgroup for one zygote and all it starts, where this process may create one (cgroup v2, or
v1's memory and pids controllers): it bounds their memory and their number together, which
rlimits, being per process, do not, and it finds every process they started, however detached,
to end it. Where no cgroup can be made, the per-process limits stand alone.
"""
from __future__ import annotations

import itertools
import os
import shlex
import signal
import time
from pathlib import Path

# The memory and the tasks (threads count) of one zygote with its workers and all they start.
MAX_MEMORY = 6 * 1024**3
MAX_TASKS = 512
PREFIX = "backprop-ninja-"  # then the grader's pid, and a count
_names = itertools.count()


class Cgroup:
    def __init__(self, folders: list[Path]):
        self.folders = folders  # the cgroup's folder in each hierarchy

    @classmethod
    def create(cls) -> Cgroup | None:
        name = f"{PREFIX}{os.getpid()}-{next(_names)}"
        folders: list[Path] = []
        try:
            for hierarchy, limits in _hierarchies().items():
                _remove_stale(_own(hierarchy))
                folders.append(_own(hierarchy) / name)
                folders[-1].mkdir()
                for file, value in limits.items():
                    (folders[-1] / file).write_text(str(value))
        except OSError:
            Cgroup(folders).remove()
            return None
        return cls(folders)

    def command(self, argv: list[str]) -> list[str]:
        """`argv`, started inside the cgroup: a shell joins it, then becomes `argv` (the same
        process), so that nothing it starts, however early, is left outside."""
        joins = "".join(f"echo $$ > {shlex.quote(str(folder / 'cgroup.procs'))} 2>/dev/null; "
                        for folder in self.folders)
        return ["/bin/sh", "-c", joins + 'exec "$@"', "sh", *argv]

    def pids(self) -> set[int]:
        try:
            return {int(pid) for pid in (self.folders[0] / "cgroup.procs").read_text().split()}
        except OSError:
            return set()

    def kill(self, sparing: int | None = None) -> None:
        """End every process in the cgroup but `sparing`, those forked meanwhile too."""
        for _ in range(100):
            left = self.pids() - {sparing}
            if not left:
                return
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.001)

    def remove(self) -> None:
        """End everything in it, then remove it."""
        self.kill()
        for folder in self.folders:
            for _ in range(100):  # the killed are still leaving
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


def _remove_stale(parent: Path) -> None:
    """The empty cgroups of graders that were killed before they could remove their own."""
    for folder in parent.glob(f"{PREFIX}*"):
        if not Path("/proc", folder.name.removeprefix(PREFIX).split("-")[0]).exists():
            try:
                folder.rmdir()
            except OSError:
                pass  # not empty yet, or not ours to remove


def _hierarchies() -> dict[str, dict[str, int]]:
    """The cgroup hierarchies in use here ("" for v2), with the limit files to write in each."""
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return {"": {"memory.max": MAX_MEMORY, "pids.max": MAX_TASKS}}
    return {"pids": {"pids.max": MAX_TASKS}, "memory": {"memory.limit_in_bytes": MAX_MEMORY}}


def _own(hierarchy: str) -> Path:
    """The folder of this process's own cgroup in `hierarchy`."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if hierarchy in controllers.split(",") or (hierarchy == "" and controllers == ""):
            return Path("/sys/fs/cgroup", hierarchy, path.lstrip("/"))
    raise OSError(f"no {hierarchy or 'v2'} cgroup")
