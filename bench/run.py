"""Benchmarks, measured side by side in one run: `python bench/run.py [--runs N] [--only NAME ...]`.

Machines are shared and noisy, so each figure is a ratio of two commands run in turn (A B A B ...),
taken pair by pair, and the median of those ratios is reported along with both medians.

NAME picks benchmarks: ex1, failing, fix (a failing check with and without `--hints fix`'s search),
ex4, train (reference backward against autograd),
threads-check, threads-train (`threads` for both), grade (a class of --class-size lecture-format
notebooks graded, against nbclient running them; runs // 7 rounds, as each takes minutes), memory
(the workers' peak RSS while grading), busy (check ex4 and grade beside a CPU-bound loop) and
report (`ninja report` on a generated gradebook of 1,000 learners, as a table and as HTML) and packs
(`ninja check` of each pack's reference against importing torch, as for ex1) and cluster (the
class graded on a Dask LocalCluster of 2 workers against 2 local grading processes).
The threads ones time `ninja check ex4` and `ninja train` on one thread (the default) and on
os.cpu_count() threads (torch's own default, the old behaviour), each idle and beside a second copy
of the same command looping as a competing load, as when a learner runs two at once; they take
runs // 2 rounds (3 by default).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from class_notebooks import STEPS, write_class

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
Target = tuple[str, Callable[[float], bool]]


def _ninja() -> list[str]:
    """The installed `ninja` script beside this Python, as a learner runs it; else the module."""
    script = Path(PYTHON).with_name("ninja")
    return [str(script)] if script.exists() else [PYTHON, "-m", "backprop_ninja"]


def _wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


@contextlib.contextmanager
def _competing(command: list[str]) -> Iterator[None]:
    """Keep `command` running over and over until the block ends: a second CPU-bound process."""
    lock, stop = threading.Lock(), threading.Event()
    running: list[subprocess.Popen] = []

    def loop() -> None:
        while True:
            with lock:  # so that a process is never started after the block has killed the last one
                if stop.is_set():
                    return
                running[:] = [subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL)]
            running[0].wait()

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        yield
    finally:
        with lock:
            stop.set()
            for process in running:
                process.kill()
        thread.join()


def _verdict(target: Target | None, value: float) -> str:
    return "" if target is None else f" (target {target[0]}: {'met' if target[1](value) else 'NOT met'})"


def _report(name: str, a: str, b: str, pairs: list[tuple[float, float]], unit: str,
            target: Target | None = None, a_target: Target | None = None) -> None:
    """Print both medians and the median of the pairwise ratios, against targets (for the ratio,
    for median A) when there are some."""
    ratio = statistics.median(x / y for x, y in pairs)
    median_a = statistics.median(x for x, _ in pairs)
    print(f"{name}\n  A: {a}\n  B: {b}\n"
          f"  median A {median_a:.3f} {unit}{_verdict(a_target, median_a)}, "
          f"B {statistics.median(y for _, y in pairs):.3f} {unit}, "
          f"median A/B {ratio:.3f}{_verdict(target, ratio)}\n")


def wall_ratio(name: str, a: list[str], b: list[str], runs: int, target: float | None = None) -> None:
    """Wall time of command A over command B, runs taken in turn."""
    _wall(a), _wall(b)  # warm the file cache for both
    pairs = [(_wall(a), _wall(b)) for _ in range(runs)]
    _report(name, " ".join(a), " ".join(b), pairs, "s",
            None if target is None else (f"<= {target}", lambda r: r <= target))


def _train(args: list[str], steps: int) -> list[str]:
    return [*_ninja(), "train", *args, "--steps", str(steps), "--samples", "0", "--json"]


def _steps_per_second(command: list[str]) -> float:
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True).stdout
    return json.loads(out)["steps_per_second"]


def training_speed(runs: int, steps: int) -> None:
    """Steps per second of `ninja train` with the reference backward, over the same with autograd."""
    a, b = _train(["reference/ex4.py"], steps), _train(["--autograd"], steps)
    pairs = [(_steps_per_second(a), _steps_per_second(b)) for _ in range(runs)]
    _report(f"ninja train, {steps} steps: steps per second, reference backward (A) over autograd (B); the "
            "backward's whole loop runs in its worker process, autograd's in the process itself",
            "ninja train reference/ex4.py", "ninja train --autograd", pairs, "steps/s")


def threads_speed(name: str, command: list[str], measure: Callable[[list[str]], float], runs: int,
                  busy_target: float | None = None) -> None:
    """`measure(command)` in seconds on one thread and on os.cpu_count() threads, idle and beside a
    second copy of itself on the same threads; one round of all four after another."""
    many = os.cpu_count() or 1
    one, all_cores = [*command, "--threads", "1"], [*command, "--threads", str(many)]

    def busy(c: list[str]) -> float:
        with _competing(c):
            return measure(c)

    measure(one)  # warm the file cache
    rounds = [(measure(one), measure(all_cores), busy(one), busy(all_cores)) for _ in range(runs)]
    beside = "  (beside the same, looping)"
    _report(f"{name}: one thread, beside a second copy (A) over idle (B)", " ".join(one) + beside,
            " ".join(one), [(b1, i1) for i1, _, b1, _ in rounds], "s", ("< 2", lambda r: r < 2),
            None if busy_target is None else (f"< {busy_target} s", lambda s: s < busy_target))
    _report(f"{name}: {many} threads (A) over one (B), idle", " ".join(all_cores), " ".join(one),
            [(im, i1) for i1, im, _, _ in rounds], "s")
    _report(f"{name}: {many} threads (A) over one (B), each beside a second copy of itself",
            " ".join(all_cores) + beside, " ".join(one) + beside, [(bm, b1) for _, _, b1, bm in rounds], "s")


def report_speed(runs: int, learners: int = 1000) -> None:
    """`ninja report` on a generated gradebook (learners x 4 exercises x 3 attempts), as a table and
    as the HTML page with plots, against importing backprop_ninja."""
    from class_gradebook import ATTEMPTS, write_gradebook

    with tempfile.TemporaryDirectory() as work:
        book = Path(work) / "gradebook.db"
        write_gradebook(book, learners)
        importing = [PYTHON, "-c", "import backprop_ninja"]
        for fmt, target in (("table", 2.0), ("html", 10.0)):
            command = [*_ninja(), "report", "--gradebook", str(book), "--format", fmt, "--output",
                       str(Path(work) / f"report.{fmt}")]
            _wall(command), _wall(importing)  # warm the file cache
            pairs = [(_wall(command), _wall(importing)) for _ in range(runs)]
            _report(f"ninja report --format {fmt} on {learners} learners x 4 exercises x {ATTEMPTS} attempts, "
                    "against importing backprop_ninja", " ".join(command[len(_ninja()):]), " ".join(importing),
                    pairs, "s", a_target=(f"< {target:g} s", lambda s, t=target: s < t))


def grading_throughput(class_size: int, runs: int) -> None:
    """`ninja grade --jobs 2` on a class of lecture-format notebooks against the same notebooks run
    top to bottom by nbclient, two kernels at a time, each on one thread (torch's default threads,
    two kernels on two cores, are tens of times slower: an unfair yardstick)."""
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "class"
        write_class(folder, class_size)
        book = Path(work) / "book.db"

        def ours() -> float:
            for stale in Path(work).glob("book.db*"):
                stale.unlink()
            return _wall([*_ninja(), "grade", str(folder), "--jobs", "2", "--gradebook", str(book)])

        def theirs() -> float:
            start = time.perf_counter()
            subprocess.run([PYTHON, str(REPO / "bench" / "class_notebooks.py"), "--execute", str(folder), "2"],
                           env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=REPO, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return time.perf_counter() - start

        pairs = [(ours() / class_size, theirs() / class_size) for _ in range(runs)]
    a, b = statistics.median(x for x, _ in pairs), statistics.median(y for _, y in pairs)
    _report(f"grading {class_size} lecture-format notebooks (exercises 1-4, {STEPS}-step training loop), "
            f"two at a time: {60 / a:.0f} notebooks/minute graded (A), {60 / b:.0f} executed (B)",
            "ninja grade CLASS --jobs 2", "nbclient, each notebook top to bottom, 2 kernels on one thread each",
            pairs, "s per notebook", ("<= 0.05 (20x faster)", lambda r: r <= 0.05))


def cluster_overhead(class_size: int, runs: int) -> None:
    """The same classes graded on a Dask LocalCluster of two workers and by the local pool of two
    grading processes. Dask's overhead per submission is the ratio of the two runs' time per extra
    notebook, between a small class and the whole one; whole runs, startup included, are shown too."""
    small = max(2, class_size // 5)
    with tempfile.TemporaryDirectory() as work:
        classes = {size: Path(work) / f"class{size}" for size in (small, class_size)}
        for size, folder in classes.items():
            write_class(folder, size)

        def grade(size: int, *where: str) -> float:
            for stale in Path(work).glob("book.db*"):
                stale.unlink()
            return _wall([*_ninja(), "grade", str(classes[size]), *where, "--gradebook", str(Path(work) / "book.db")])

        dask, local = ("--scheduler", "local:2"), ("--jobs", "2")
        whole, marginal = [], []
        for _ in range(runs):
            times = {(size, where): grade(size, *where) for size in (small, class_size) for where in (dask, local)}
            whole.append((times[class_size, dask] / class_size, times[class_size, local] / class_size))
            on_dask, here = ((times[class_size, where] - times[small, where]) / (class_size - small)
                             for where in (dask, local))
            marginal.append((on_dask, here))
    _report(f"grading {class_size} lecture-format notebooks on a Dask LocalCluster of 2 workers (A) and in 2 local "
            "grading processes (B), whole runs", "ninja grade CLASS --scheduler local:2", "ninja grade CLASS --jobs 2",
            whole, "s per notebook")
    _report(f"the same, each notebook's share: time per notebook beyond the first {small} (Dask's overhead per "
            "submission)", "ninja grade CLASS --scheduler local:2", "ninja grade CLASS --jobs 2", marginal,
            "s per notebook", ("<= 1.2", lambda r: r <= 1.2))


def worker_memory() -> None:
    """The peak RSS of every worker process while `ninja grade` grades a lecture-format notebook
    (without the sandbox, so that this process can see the workers): polled from /proc."""
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "class"
        write_class(folder, 2)
        grading = subprocess.Popen([*_ninja(), "grade", str(folder), "--jobs", "1", "--sandbox", "none",
                                    "--gradebook", str(Path(work) / "book.db")], cwd=REPO,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peaks: dict[int, int] = {}
        while grading.poll() is None:
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"backprop_ninja.engine.isolation.zygote_server" in cmdline and "VmHWM" in status:
                    peak = int(status.split("VmHWM:")[1].split()[0]) * 1024
                    peaks[int(pid)] = max(peaks.get(int(pid), 0), peak)
            time.sleep(0.005)
    # The zygote is the oldest of them; every later one is a worker forked from it.
    workers = sorted(peaks.items())[1:]
    top = max(peak for _, peak in workers) / 1024**2
    print(f"worker processes' peak RSS while grading 2 lecture-format notebooks: {len(workers)} workers, "
          f"largest {top:.0f} MB (target < 600 MB: {'met' if top < 600 else 'NOT met'}); "
          f"the zygote's {sorted(peaks.items())[0][1] / 1024**2:.0f} MB\n")


def busy_slowdown(runs: int) -> None:
    """`ninja check ex4` and `ninja grade` (10 notebooks, --jobs 2) beside a CPU-bound loop on the
    other core, against the same idle."""
    hog = [PYTHON, "-c", "while True: pass"]

    def beside_hog(command: list[str]) -> float:
        with _competing(hog):
            return _wall(command)

    check_ex4 = [*_ninja(), "check", "ex4", "reference/ex4.py"]
    _wall(check_ex4)
    pairs = [(beside_hog(check_ex4), _wall(check_ex4)) for _ in range(runs)]
    _report("ninja check ex4: beside a CPU-bound loop (A) over idle (B)", " ".join(check_ex4) + "  (beside the loop)",
            " ".join(check_ex4), pairs, "s", ("< 2", lambda r: r < 2))
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "class"
        write_class(folder, 10)

        def grade() -> list[str]:
            for stale in Path(work).glob("book.db*"):
                stale.unlink()
            return [*_ninja(), "grade", str(folder), "--jobs", "2", "--gradebook", str(Path(work) / "book.db")]

        pairs = [(beside_hog(grade()), _wall(grade())) for _ in range(runs)]
    _report("ninja grade, 10 notebooks, --jobs 2: beside a CPU-bound loop (A) over idle (B)",
            "ninja grade CLASS --jobs 2  (beside the loop)", "ninja grade CLASS --jobs 2", pairs, "s",
            ("< 2", lambda r: r < 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="pairs of runs per benchmark (default 7)")
    parser.add_argument("--only", action="append", metavar="NAME",
                        choices=["ex1", "failing", "fix", "ex4", "train", "threads", "threads-check", "threads-train",
                                 "grade", "memory", "busy", "report", "packs", "cluster"],
                        help="run only this benchmark (repeatable); `threads` runs both threads ones")
    parser.add_argument("--class-size", type=int, default=50, help="notebooks in the grading benchmark (default 50)")
    args = parser.parse_args()

    def wanted(name: str) -> bool:
        return not args.only or name in args.only or name.split("-")[0] in args.only

    if wanted("ex1"):
        wall_ratio("ninja check ex1 on the reference solution, against importing torch",
                   [*_ninja(), "check", "ex1", "reference/ex1.py"], [PYTHON, "-c", "import torch"],
                   args.runs, target=1.4)
    if wanted("packs"):
        from backprop_ninja.engine.exercises import registry

        with tempfile.TemporaryDirectory() as work:
            # makemore4's ex1 and ex4 have benchmarks of their own.
            for name, pack in (item for item in registry.packs().items() if item[0] != "makemore4"):
                for key, reference in registry.with_references(pack).references.items():
                    answer = Path(work) / f"{key}.py"
                    answer.write_text(reference)
                    # As for ex1, where the check is of gradients alone; one with a training stage trains too.
                    trains = registry.exercises()[key].training is not None
                    wall_ratio(f"ninja check {key} ({name} pack) on its reference, against importing torch"
                               + (" (it trains for 2000 steps too: no target)" if trains else ""),
                               [*_ninja(), "check", key, str(answer)], [PYTHON, "-c", "import torch"], args.runs,
                               target=None if trains else 1.4)
    if wanted("failing"):
        with tempfile.TemporaryDirectory() as work:
            # One mistake early on (the += into dcounts forgotten): every gradient after it fails, so
            # the check runs the diagnosis in full.
            failing = Path(work) / "ex1.py"
            failing.write_text((REPO / "reference" / "ex1.py").read_text().replace(
                "dcounts += torch.ones_like(counts) * dcounts_sum\n", ""))
            wall_ratio("ninja check ex1 on a failing submission (diagnosed), against the passing reference",
                       [*_ninja(), "check", "ex1", str(failing)], [*_ninja(), "check", "ex1", "reference/ex1.py"],
                       args.runs, target=2.0)
    if wanted("fix"):
        from backprop_ninja.engine.exercises import registry

        micrograd = registry.with_references(registry.pack_named("micrograd"))
        endless = next(m for m in micrograd.mistakes if m.name == "backward with no topological order")
        reference = (REPO / "reference" / "ex1.py").read_text()
        # A mistake whose fix is found (the += into dcounts forgotten); one no edit makes right, for
        # which every edit is tried; and one whose edits loop for ever, for which the search runs
        # out of its time.
        cases = (("ex1", "its fix found", reference.replace("dcounts += torch.ones_like(counts) * dcounts_sum\n", "")),
                 ("ex1", "no fix found: every edit tried", reference.replace(
                     "dhpreact = (1.0 - h**2) * dh", "dhpreact = (1.0 - h**2) * dh * h")),
                 ("micrograd", "edits that loop for ever: the search out of time", endless.source))
        with tempfile.TemporaryDirectory() as work:
            for key, label, wrong in cases:
                failing = Path(work) / f"{key}.py"
                failing.write_text(wrong)
                wall_ratio(f"ninja check {key} --hints fix on a failing submission ({label}), against the same "
                           "check without the search", [*_ninja(), "check", key, str(failing), "--hints", "fix"],
                           [*_ninja(), "check", key, str(failing)], args.runs, target=2.0)
    if wanted("ex4"):
        from backprop_ninja.engine.judging.convergence import DEFAULT_STEPS

        wall_ratio(f"ninja check ex4 on the reference solution, against the lecture's loop with "
                   f"loss.backward() for the same {DEFAULT_STEPS} steps in a plain script",
                   [*_ninja(), "check", "ex4", "reference/ex4.py"],
                   [PYTHON, "bench/lecture_loop.py", str(DEFAULT_STEPS)], args.runs)
    if wanted("train"):
        training_speed(max(3, args.runs // 2), steps=20_000)
    if wanted("cluster"):
        cluster_overhead(args.class_size, max(3, args.runs // 2))
    # Fewer rounds: each has four runs, and the many-thread ones can take minutes on a busy machine.
    if wanted("threads-check"):
        threads_speed("ninja check ex4, wall time", [*_ninja(), "check", "ex4", "reference/ex4.py"], _wall,
                      max(1, args.runs // 2), busy_target=10)
    if wanted("threads-train"):
        # Steps per second do not depend on the number of steps; on many threads beside a second
        # copy, 20,000 steps took 13 minutes.
        steps = 2_000
        # Seconds spent training (steps over the reported steps per second), torch's import left out.
        threads_speed(f"ninja train, {steps} steps, training time", _train(["reference/ex4.py"], steps),
                      lambda c: steps / _steps_per_second(c), max(1, args.runs // 2))
    if wanted("grade"):
        grading_throughput(args.class_size, max(1, args.runs // 7))
    if wanted("memory"):
        worker_memory()
    if wanted("busy"):
        busy_slowdown(max(1, args.runs // 2))
    if wanted("report"):
        report_speed(max(3, args.runs // 2))


if __name__ == "__main__":
    main()
