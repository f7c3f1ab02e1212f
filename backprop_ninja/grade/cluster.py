"""Grading on a Dask cluster (`ninja grade --scheduler`): each submission one task, graded on a Dask
worker by the same engine, in the same sandbox (the worker host's), as a local run; the result comes
back as the same JSON record, and only this process writes the gradebook.

A Dask worker process keeps one zygote and one cache of the truths and the autograd twin for all
the tasks it runs. The file's bytes travel with its task, so the workers need not see this
machine's files. Dask re-runs the tasks of a worker that dies; each task's result is taken once, as
its future completes, so nothing is stored twice. `distributed` is imported by this module only.
"""
from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import logging
import re
import threading
from collections.abc import Generator, Iterator
from pathlib import Path

from .. import __version__
from . import Graded, Task

# How long the scheduler has to answer, and to have a worker, before the run is given up.
CONNECT_TIMEOUT = 30.0
# Submissions sent ahead at least (four a worker, if more): enough that no worker waits for one.
IN_FLIGHT = 16
LOCAL = re.compile(r"local:(\d+)")


class ClusterError(Exception):
    """The cluster cannot be used: a user error, reported without a traceback."""


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ClusterError('--scheduler needs Dask\'s distributed: pip install "backprop_ninja[cluster]"') from None
    return distributed


@contextlib.contextmanager
def connect(scheduler: str, timeout: float = CONNECT_TIMEOUT) -> Iterator:
    """A Dask client of the scheduler at `scheduler` ("tcp://host:8786"), or of a LocalCluster of N
    worker processes started for the run ("local:N"), with a worker to grade on."""
    distributed = _distributed()
    local = LOCAL.fullmatch(scheduler)
    with contextlib.ExitStack() as stack:
        if local:
            if int(local.group(1)) < 1:
                raise ClusterError(f"--scheduler {scheduler}: a local cluster needs at least one worker")
            # Dask's profiler samples every worker thread's stack every 10 ms: time a grading thread
            # loses, for a picture no one looks at here.
            import dask  # distributed's own dependency

            stack.enter_context(dask.config.set({"distributed.worker.profile.enabled": False}))
            # One thread a worker: a worker grades one submission at a time (see `grade_task`).
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=int(local.group(1)), threads_per_worker=1, processes=True, dashboard_address=None))
            scheduler = cluster.scheduler_address
        # Dask raises asyncio's TimeoutError, which is the builtin one only from Python 3.11 on.
        try:
            client = stack.enter_context(distributed.Client(scheduler, timeout=timeout))
        except (OSError, TimeoutError, asyncio.TimeoutError, ValueError) as e:
            raise ClusterError(f"cannot reach a Dask scheduler at {scheduler} within {timeout:g} s ({e})") from None
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError, asyncio.TimeoutError):
            raise ClusterError(f"the Dask scheduler at {scheduler} has no workers (none joined within {timeout:g} s): "
                               f"start some with `dask worker {scheduler} --nthreads 1`") from None
        yield client


def on(scheduler: str, sandbox_mode: str, timeout: float = CONNECT_TIMEOUT):
    """The grader that sends each task to the cluster at `scheduler` (see `connect`), each worker in
    the sandbox `sandbox_mode` finds on its host, for `grade(..., grader=...)`. It connects only when
    there is something to grade, within `timeout` seconds."""
    def grader(todo: list[Task], steps: int, check_timeout: float | None
               ) -> Generator[tuple[Task, Graded], None, None]:
        with connect(scheduler, timeout) as client:
            yield from _graded(client, todo, steps, check_timeout, sandbox_mode)
    return grader


def _graded(client, todo: list[Task], steps: int, timeout: float | None, sandbox_mode: str
            ) -> Generator[tuple[Task, Graded], None, None]:
    """The tasks, a few per worker in flight at a time (the files' bytes wait here, not in the
    scheduler's memory), as they finish."""
    distributed = _distributed()
    futures: dict = {}

    def submit(task: Task):
        path, learner, _ = task
        try:
            content: bytes | None = path.read_bytes()
        except OSError:  # gone since it was found: the worker says why, as a local run's grading would
            content = None
        future = client.submit(grade_task, str(path), content, learner, steps, timeout, sandbox_mode, pure=False)
        futures[future] = task
        return future

    waiting = iter(todo)
    in_flight = max(IN_FLIGHT, 4 * len(client.scheduler_info()["workers"]))
    done = distributed.as_completed([submit(task) for task in itertools.islice(waiting, in_flight)])
    try:
        for future in done:
            if (following := next(waiting, None)) is not None:
                done.add(submit(following))
            task = futures.pop(future)
            try:
                version, record = future.result()
                if version != __version__:  # the gradebook says which grader graded: this one
                    raise ClusterError(f"its worker runs backprop_ninja {version}, this machine {__version__}")
                graded = Graded.from_dict(record)
            except Exception as e:  # Dask's own (a task whose workers kept dying, a lost worker host), or ours
                graded = Graded(str(task[0]), task[1], (), f"{task[0]}: the cluster could not grade it "
                                f"({type(e).__name__}: {e})", False, lost=True)
            yield task, graded
    finally:
        client.cancel(list(futures))  # those not taken: a run stopped early leaves no work behind


# -- on a Dask worker -----------------------------------------------------------------------------------

# One grading at a time in a worker process: its zygote serves one check at a time.
_GRADING = threading.Lock()
_started: list[str] = []  # the sandbox mode this process's zygote was started with


def grade_task(submission: str, content: bytes | None, learner: str, steps: int, timeout: float | None,
               sandbox_mode: str) -> tuple[str, dict]:
    """On a Dask worker: grade one submission, sent as its bytes (None: read it from its path, if it
    is there), as a local run grades it; the grader's version, and the record."""
    from . import grade_one

    with _GRADING:
        _start(sandbox_mode)
        return __version__, grade_one(Path(submission), learner, steps, timeout, content).to_dict()


def _start(sandbox_mode: str) -> None:
    """The worker process's zygote, in the sandbox `sandbox_mode` finds on this host, once."""
    if _started:
        return
    from ..engine.isolation.sandbox import find
    from ..engine.isolation.threads import use_threads
    from ..engine.isolation.zygote_client import start_workers, stop_workers, use_sandbox

    sandbox, warning = find(sandbox_mode)  # "bwrap" without a working one here raises: no grade without it
    if warning:
        logging.getLogger(__name__).warning(warning)  # in the Dask worker's log
    use_sandbox(sandbox)
    start_workers()
    atexit.register(stop_workers)
    use_threads()
    _started.append(sandbox_mode)
