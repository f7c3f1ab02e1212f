"""Helpers for a learner's notebook: the lecture's `cmp`, shape-aware, the exercise namespace, and
`check_answer`, the same check as `ninja check` on the answer cell, wherever the notebook runs."""
from __future__ import annotations


import click
import torch

from ..engine.exercises.compare import harmless_shape
from ..engine.exercises.registry import answers, exercises
from ..engine.reading.cells import Cell, notebook_cells, python_source
from ..engine.reading.submission import answer_in_cells, last_assigning
from ..engine.results.records import CheckResult
from .render import render, render_html

__all__ = ["check_answer", "cmp", "exercise_namespace"]


class Report:
    """A check's report, shown as an HTML table in Jupyter and as text anywhere else."""

    def __init__(self, result: CheckResult, heading: str, hints: str):
        self.result, self.heading, self.hints = result, heading, hints

    def _repr_html_(self) -> str:
        return render_html(self.result, self.heading, self.hints)

    def __str__(self) -> str:
        return click.unstyle(render(self.result, self.heading, self.hints))

    __repr__ = __str__


def check_answer(key: str, code: str | None = None, hints: str = "on") -> Report:
    """Check exercise `key` as `ninja check` does: the same worker, instances, table, root cause and
    hints (`hints` as `ninja check --hints`: "fix" adds an edit of your line that makes the first wrong
    step right, found by running it). In Jupyter the report is an HTML table; elsewhere, text.

    The code checked is `code` if given, else what the cells you have run answer, found as `ninja
    check` finds it in a saved notebook (a cell that assigns the exercise's gradients stands for the
    tag the kernel does not know): it is read from the kernel's history, not from a file, so it works
    in Jupyter, JupyterLab, VS Code and Colab alike. Run your answer cell, then this."""
    from . import check

    exercise = _exercise(key)
    cells = [Cell(python_source(code), "the code given", "")] if code is not None else _history()
    found = answer_in_cells(cells, key, answers()) or last_assigning(cells, exercise.written)
    if found is None:
        raise RuntimeError(f"no cell you have run assigns {exercise.written[0]} or another gradient of this "
                           "exercise: run your answer cell first, then check it")
    return Report(check(exercise, found.snippets, "your notebook", reading=found, fix=hints == "fix"),
                  f"Checking your answer ({found.found})", hints)


def _history() -> list[Cell]:
    """The cells run in this kernel so far, in order, but the one running this check."""
    try:
        from IPython import get_ipython
    except ImportError:
        shell = None
    else:
        shell = get_ipython()
    if shell is None:
        raise RuntimeError("check_answer() reads your answer from a notebook's history: outside a "
                           "notebook, pass your code (check_answer(key, code=...)) or run `ninja check`")
    history = shell.user_ns.get("In", [])
    return notebook_cells("your notebook", [{"cell_type": "code", "source": source, "execution_count": number}
                                            for number, source in enumerate(history[1:-1], start=1)])


def cmp(s: str, dt: torch.Tensor, t: torch.Tensor) -> None:
    """Print whether the hand-written gradient `dt` matches `t.grad`: exact, approximate, maxdiff.

    The lecture's line, plus a word on shapes where they differ: the lecture's version broadcasts,
    so a wrong shape can pass it."""
    if t.grad is None:
        print(f"{s:15s} | {s} has no .grad: call {s}.retain_grad() before loss.backward()")
        return
    try:
        ex = torch.all(dt == t.grad).item()
        app = torch.allclose(dt, t.grad)
        maxdiff = (dt - t.grad).abs().max().item()
    except RuntimeError:
        print(f"{s:15s} | shape {tuple(dt.shape)} cannot be compared with {s}'s {tuple(t.grad.shape)}")
        return
    line = f"{s:15s} | exact: {str(ex):5s} | approximate: {str(app):5s} | maxdiff: {maxdiff}"
    if dt.shape != t.grad.shape:
        harmless = harmless_shape(tuple(dt.shape), tuple(t.grad.shape))
        verdict = "fine: only leading 1s differ" if harmless else "passes here only by broadcasting"
        line += f" | shape {tuple(dt.shape)}, {s} is {tuple(t.grad.shape)}: {verdict}"
    print(line)


def exercise_namespace(key: str) -> dict[str, object]:
    """The namespace of `key`'s lecture instance, for working on an exercise in a notebook."""
    exercise = _exercise(key)
    return exercise.namespace(exercise.lecture)


def _exercise(key: str):
    if key not in exercises():
        raise ValueError(f"{key!r} is not an exercise; choose from {', '.join(exercises())}")
    return exercises()[key]
