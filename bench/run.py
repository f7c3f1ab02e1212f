"""Benchmarks, measured side by side in one run: `python bench/run.py [--runs N]`.

Machines are shared and noisy, so each figure is a ratio of two commands run in turn (A B A B ...),
taken pair by pair, and the median of those ratios is reported along with both medians.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _ninja() -> list[str]:
    """The installed `ninja` script beside this Python, as a learner runs it; else the module."""
    script = Path(sys.executable).with_name("ninja")
    return [str(script)] if script.exists() else [sys.executable, "-m", "backprop_ninja"]


def _wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def paired(name: str, a: list[str], b: list[str], runs: int, target: float | None = None) -> dict:
    _wall(a), _wall(b)  # warm the file cache for both
    pairs = [(_wall(a), _wall(b)) for _ in range(runs)]
    ratio = statistics.median(x / y for x, y in pairs)
    verdict = "" if target is None else (f"  (target <= {target}: {'met' if ratio <= target else 'NOT met'})")
    print(f"{name}\n  A: {' '.join(a)}\n  B: {' '.join(b)}\n"
          f"  median wall A {statistics.median(x for x, _ in pairs):.3f} s, "
          f"B {statistics.median(y for _, y in pairs):.3f} s, median A/B {ratio:.3f}{verdict}")
    return {"name": name, "ratio": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9, help="pairs of runs per benchmark (default 9)")
    args = parser.parse_args()
    paired("ninja check ex1 on the reference solution, against importing torch",
           [*_ninja(), "check", "ex1", "reference/ex1.py"],
           [sys.executable, "-c", "import torch"], args.runs, target=1.4)


if __name__ == "__main__":
    main()
