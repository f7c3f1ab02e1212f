"""Showing a check's result: a table in the spirit of the lecture's `cmp`, for a terminal."""
from __future__ import annotations

import textwrap

import click
from tabulate import tabulate

from .check import CheckResult, GradientResult
from .compare import ERROR, FAIL, MISSING, PASS

_STATUS = {PASS: ("pass", "green"), FAIL: ("FAIL", "red"), MISSING: ("not computed", "yellow"),
           ERROR: ("error", "magenta")}


def _maxdiff(value: float | None) -> str:
    if value is None:
        return "-"
    return "0" if value == 0 else f"{value:.1e}"


def _flag(value: bool | None) -> str:
    return "-" if value is None else str(value)


def _row(step: int, g: GradientResult) -> list[str]:
    word, colour = _STATUS[g.status]
    return [str(step), g.name, _flag(g.exact), _flag(g.approximate), _maxdiff(g.maxdiff),
            click.style(word, fg=colour)]


def render(result: CheckResult, heading: str = "") -> str:
    """The whole report: table, notes on what did not pass, the learner's error, the verdict."""
    lines = [heading, ""] if heading else []
    table = tabulate([_row(i, g) for i, g in enumerate(result.gradients, start=1)],
                     headers=["#", "gradient", "exact", "approximate", "maxdiff", "status"],
                     colalign=("right", "left", "left", "left", "right", "left"),
                     disable_numparse=True)
    lines.append(table)
    notes = [f"  {g.name}: {g.note}" for g in result.gradients if g.note and g.status != MISSING]
    if notes:
        lines += ["", "Notes:", *notes]
    lines += _errors(result)
    lines += _convergence(result)
    if result.output.strip():
        printed = result.output.rstrip().splitlines()
        lines += ["", "Your code printed (on the lecture's instance):",
                  *("  " + line for line in printed[:10])]
        if len(printed) > 10:
            lines.append(f"  ... {len(printed) - 10} more lines")
    lines += ["", _verdict(result)]
    return "\n".join(lines)


def _errors(result: CheckResult) -> list[str]:
    if not result.errors:
        return []
    first = result.errors[0]
    raised = first.raised
    lines = ["", click.style(f"Your code raised at {raised.where} ({first.instance} instance):", fg="red")]
    if raised.line:
        lines.append(f"    {raised.line}")
    lines.append(f"  {raised.exception}")
    return lines


def _convergence(result: CheckResult) -> list[str]:
    c = result.convergence
    if c is None:
        return []
    word, colour = ("pass", "green") if c.passed else ("FAIL", "red")
    return ["", f"Training with your gradients next to autograd ({c.steps} steps, same start, same batches): "
            + click.style(word, fg=colour),
            textwrap.fill(c.reason, width=88, initial_indent="  ", subsequent_indent="  ")]


def _verdict(result: CheckResult) -> str:
    total = len(result.gradients)
    instances = len(result.instances)
    if result.passed:
        exact = sum(bool(g.exact) for g in result.gradients)
        trains = " Training with them converges like autograd." if result.convergence else ""
        subject = (f"All {total} gradients match" if total > 1 else f"{result.gradients[0].name} matches")
        rounding = ("" if exact == total else
                    f"; {'the other ' + str(total - exact) if exact else 'they'} differ only by rounding, "
                    "a few units in the last place, which is not a mistake")
        return click.style(textwrap.fill(
            f"{subject} autograd on all {instances} instances ({exact} of {total} bit-exact on "
            f"the lecture's{rounding}).{trains}", width=88), fg="green", bold=True)
    passed = sum(g.status == PASS for g in result.gradients)
    computed = [g for g in result.gradients if g.status != MISSING]
    if not computed:
        first = result.gradients[0]
        return click.style(f"0/{total} gradients computed yet: start with {first.name}.", fg="yellow", bold=True)
    wrong = next((g for g in result.gradients if g.status != PASS), None)
    if wrong is None:
        return click.style(f"All {total} gradients pass, but training with them does not converge "
                           "like autograd.", fg="red", bold=True)
    lines = [click.style(f"{passed}/{total} gradients pass. First to look at: {wrong.name}.", fg="red", bold=True)]
    if wrong.status != MISSING:
        lines.append(f"Hint for {wrong.name}: {wrong.hint}")
    return "\n".join(lines)
