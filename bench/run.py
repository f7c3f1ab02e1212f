"""Benchmarks, measured side by side in one run: `python bench/run.py [--runs N]`.

Machines are shared and noisy, so each figure is a ratio of two commands run in turn (A B A B ...),
taken pair by pair, and the median of those ratios is reported along with both medians.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def _ninja() -> list[str]:
    """The installed `ninja` script beside this Python, as a learner runs it; else the module."""
    script = Path(PYTHON).with_name("ninja")
    return [str(script)] if script.exists() else [PYTHON, "-m", "backprop_ninja"]


def _wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def _report(name: str, a: str, b: str, pairs: list[tuple[float, float]], unit: str,
            target: tuple[str, Callable[[float], bool]] | None = None) -> None:
    """Print both medians and the median of the pairwise ratios, against a target when there is one."""
    ratio = statistics.median(x / y for x, y in pairs)
    verdict = "" if target is None else f"  (target {target[0]}: {'met' if target[1](ratio) else 'NOT met'})"
    print(f"{name}\n  A: {a}\n  B: {b}\n"
          f"  median A {statistics.median(x for x, _ in pairs):.3f} {unit}, "
          f"B {statistics.median(y for _, y in pairs):.3f} {unit}, median A/B {ratio:.3f}{verdict}\n")


def wall_ratio(name: str, a: list[str], b: list[str], runs: int, target: float | None = None) -> None:
    """Wall time of command A over command B, runs taken in turn."""
    _wall(a), _wall(b)  # warm the file cache for both
    pairs = [(_wall(a), _wall(b)) for _ in range(runs)]
    _report(name, " ".join(a), " ".join(b), pairs, "s",
            None if target is None else (f"<= {target}", lambda r: r <= target))


def training_speed(runs: int, steps: int) -> None:
    """Steps per second of `ninja train` with the reference backward, over the same with autograd."""
    def rate(args: list[str]) -> float:
        out = subprocess.run([*_ninja(), "train", *args, "--steps", str(steps), "--samples", "0", "--json"],
                             cwd=REPO, capture_output=True, text=True, check=True).stdout
        return json.loads(out)["steps_per_second"]

    a, b = ["reference/ex4.py"], ["--autograd"]
    pairs = [(rate(a), rate(b)) for _ in range(runs)]
    _report(f"ninja train, {steps} steps: steps per second, reference backward (A) over autograd (B)",
            "ninja train reference/ex4.py", "ninja train --autograd", pairs, "steps/s",
            (">= 1, not slower than autograd", lambda r: r >= 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="pairs of runs per benchmark (default 7)")
    args = parser.parse_args()
    wall_ratio("ninja check ex1 on the reference solution, against importing torch",
               [*_ninja(), "check", "ex1", "reference/ex1.py"], [PYTHON, "-c", "import torch"],
               args.runs, target=1.4)
    with tempfile.TemporaryDirectory() as work:
        # One mistake early on (the += into dcounts forgotten): every gradient after it fails, so
        # the check runs the diagnosis in full.
        failing = Path(work) / "ex1.py"
        failing.write_text((REPO / "reference" / "ex1.py").read_text().replace(
            "dcounts += torch.ones_like(counts) * dcounts_sum\n", ""))
        wall_ratio("ninja check ex1 on a failing submission (diagnosed), against the passing reference",
                   [*_ninja(), "check", "ex1", str(failing)], [*_ninja(), "check", "ex1", "reference/ex1.py"],
                   args.runs, target=2.0)
    from backprop_ninja.convergence import DEFAULT_STEPS

    wall_ratio(f"ninja check ex4 on the reference solution, against the lecture's loop with "
               f"loss.backward() for the same {DEFAULT_STEPS} steps in a plain script",
               [*_ninja(), "check", "ex4", "reference/ex4.py"],
               [PYTHON, "bench/lecture_loop.py", str(DEFAULT_STEPS)], args.runs)
    training_speed(max(3, args.runs // 2), steps=20_000)


if __name__ == "__main__":
    main()
