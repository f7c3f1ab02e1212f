"""Showing a check's result: a table in the spirit of the lecture's `cmp`, then what went wrong and
why, for a terminal."""
from __future__ import annotations

import html
import textwrap

import click
from tabulate import tabulate

from ..engine.results.display import visible, visible_all
from ..engine.results.records import (ERROR, FAIL, MISSING, NOT_DEFINED, PASS, WHOLE_SUBMISSION, CheckResult,
                                      GradientResult, Kind, Stop)
from .picture import render_picture

WIDTH = 88
_STATUS = {PASS: ("pass", "green"), FAIL: ("FAIL", "red"), MISSING: ("not computed", "yellow"),
           ERROR: ("error", "magenta"), NOT_DEFINED: ("not defined", "blue")}
_FIX_FIRST: dict[str, str] = {Kind.AUTOGRAD_USED: "Take autograd out first.",
                              Kind.GRADS_LIST: "Fix the grads list first."}
_HTML_STYLE = {"pass": "color: green", "FAIL": "color: red; font-weight: bold", "wrong": "color: red",
               "not computed": "color: darkorange", "error": "color: purple",
               "not defined": "color: gray"}
_OWN_STEP = {PASS: "right", FAIL: click.style("wrong", fg="red"), None: "-"}


def _maxdiff(value: float | None) -> str:
    if value is None:
        return "-"
    return "0" if value == 0 else f"{value:.1e}"


def _flag(value: bool | None) -> str:
    return "-" if value is None else str(value)


def _wrap(text: str, indent: str = "  ", first: str | None = None, whole_words: bool = False) -> list[str]:
    """`text` wrapped to the width; with `whole_words`, a long word (a path) is never broken."""
    return textwrap.wrap(text, WIDTH, initial_indent=indent if first is None else first,
                         subsequent_indent=indent + "  ", break_long_words=not whole_words,
                         break_on_hyphens=not whole_words)


def _table(result: CheckResult) -> tuple[list[str], list[list[str]]]:
    """The headers and rows of the lecture's `cmp`, one row per gradient, with its status (styled)."""
    diagnosed = result.root is not None
    headers = ["#", "gradient", "exact", "approximate", "maxdiff", "status"] + (["own step"] if diagnosed else [])
    rows = []
    for step, g in enumerate(result.gradients, start=1):
        word, colour = _STATUS[g.status]
        rows.append([str(step), g.name, _flag(g.exact), _flag(g.approximate), _maxdiff(g.maxdiff),
                     click.style(word, fg=colour)] + ([_OWN_STEP[g.local_status]] if diagnosed else []))
    return headers, rows


def _after_table(result: CheckResult, hints: str) -> list[str]:
    """What went wrong and why, the learner's error and printout, hints, and the verdict."""
    lines = _reading(result) + _findings(result, hints) + _errors(result) + _convergence(result)
    if result.output.strip():
        printed = result.output.rstrip().splitlines()
        lines += ["", "Your code printed (on the lecture's instance):", *("  " + line for line in printed[:10])]
        if len(printed) > 10:
            lines.append(f"  ... {len(printed) - 10} more lines")
    if hints == "all":
        lines += ["", "Hints:"] + [line for g in result.gradients for line in _wrap(g.hint, first=f"  {g.name}: ")]
    return lines + ["", _verdict(result)]


def render(result: CheckResult, heading: str = "", hints: str = "on") -> str:
    """The whole report, for a terminal: the table, then what went wrong and why, and the verdict.
    What came from the learner's code is shown, never obeyed (its escape sequences escaped)."""
    result, heading = visible_all(result), visible(heading)
    headers, rows = _table(result)
    lines = [heading, ""] if heading else []
    lines.append(tabulate(rows, headers=headers, disable_numparse=True,
                          colalign=("right", "left", "left", "left", "right", "left", "left")))
    return "\n".join(lines + _after_table(result, hints))


def render_html(result: CheckResult, heading: str = "", hints: str = "on") -> str:
    """The same report for a notebook: the table as HTML, the rest as the terminal shows it."""
    headers, rows = _table(result)
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_html_cell(click.unstyle(c)) for c in row) + "</tr>" for row in rows)
    rest = html.escape(click.unstyle("\n".join(_after_table(result, hints)).strip("\n")))
    title = f"<p><b>{html.escape(heading)}</b></p>" if heading else ""
    return (f"<div>{title}<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"
            f"{_pictures(result)}<pre style='white-space: pre-wrap'>{rest}</pre></div>")


def render_page(result: CheckResult, heading: str = "", hints: str = "on") -> str:
    """The notebook's report as a page of its own, for a browser (`ninja check --html`)."""
    title = heading.splitlines()[0] if heading else f"Checking {result.exercise}"
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>body {{ font-family: sans-serif; margin: 2em }} "
            "td, th { padding: 2px 10px; text-align: left }</style></head>"
            f"<body>{render_html(result, heading, hints)}</body></html>\n")


def _pictures(result: CheckResult) -> str:
    """Where the wrong gradients are wrong, as pictures: the root cause's first, then in backprop
    order (a result holds those of the first few only: see `verdict.MOST_PICTURES`)."""
    drawn = [(g.name, g.error_map) for g in result.gradients if g.status != PASS and g.error_map]
    drawn.sort(key=lambda picture: picture[0] != result.root_cause)  # stable: backprop order after the root
    if not drawn:
        return ""
    pictures = "".join(render_picture(name, m) for name, m in drawn)
    return ("<p>Where they are wrong, on the lecture's instance: your gradient minus autograd's, blue where "
            f"yours is below, red where above.</p>{pictures}")


def _html_cell(text: str) -> str:
    style = _HTML_STYLE.get(text)
    return f"<td style='{style}'>{html.escape(text)}</td>" if style else f"<td>{html.escape(text)}</td>"


def _reading(result: CheckResult) -> list[str]:
    """What the reading of the learner's file, and the running of their code, found they should hear of."""
    return ["", "How your code was read and run:", *(line for note in result.notes for line in _wrap(note))] \
        if result.notes else []


def _slip(g: GradientResult) -> str:
    return f"you wrote {g.written_as}: did you mean {g.name}?"


def _findings(result: CheckResult, hints: str) -> list[str]:
    """One line per gradient worth a word: the root cause first, inherited errors grouped."""
    lines, inherited = [], []
    if result.root:
        root = result.root
        label = f"root cause: {root.name} ({root.diagnosis.kind})"
        wrapped = _wrap(root.diagnosis.message + ("" if root.graded else
                        f" ({root.name} is not graded, but the gradients after it are built from it)"),
                        first=f"  {label}: ")
        wrapped[0] = wrapped[0].replace(label, click.style(label, fg="red", bold=True), 1)  # no width
        lines += wrapped
        if hints in ("on", "fix"):
            lines += _wrap(f"hint: {root.hint}", indent="      ")
        if hints == "fix" and result.fix_searched:
            lines += _fix(result)
    for g in result.gradients:
        if g.name == result.root_cause:
            continue
        if g.diagnosis and g.diagnosis.kind == Kind.INHERITED:
            inherited.append(g.name)
            continue
        if g.diagnosis and result.root and g.diagnosis.kind == result.root.diagnosis.kind in WHOLE_SUBMISSION:
            continue  # the root cause's message says it for every gradient
        if g.status == MISSING and g.written_as:
            lines += _wrap(f"not computed: {_slip(g)}", first=f"  {g.name}: ")
            continue
        message = g.diagnosis.message if g.diagnosis else g.note
        if not message or (g.status == MISSING and g.diagnosis is None):
            continue
        label = f"{g.name} ({g.diagnosis.kind})" if g.diagnosis and g.diagnosis.kind != Kind.SHAPE_NOTE else g.name
        lines += _wrap(message, first=f"  {label}: ")
        if hints in ("on", "fix") and g.local_status == FAIL:
            lines += _wrap(f"hint: {g.hint}", indent="      ")
    if inherited:
        source = result.root_cause or "an earlier gradient"
        lines += _wrap(f"{', '.join(inherited)}: right steps, wrong only because of {source} before them",
                       first="  inherited: ")
    return ["", "Notes:", *lines] if lines else []


def _fix(result: CheckResult) -> list[str]:
    """The edit found to make the root cause's step right, as a change of the learner's own line."""
    fix = result.root_fix
    if fix is None:
        return _wrap(f"fix: no small edit of your lines makes {result.root_cause} right (the search tries =/+=, "
                     "keepdim, the axis, a sign, a transpose, a factor of the sizes, a size for a number, an "
                     "op's input for its output and a missing += line, among others)",
                     indent="      ")
    return _wrap(f"fix: this change at {fix.where} makes {fix.gradient} right on every instance:",
                 indent="      ", whole_words=True) + [f"        {line}" for line in fix.change()]


def _errors(result: CheckResult) -> list[str]:
    """Where the learner's code raised, unless a diagnosis has said it already."""
    if not result.errors or any(g.diagnosis and g.diagnosis.kind == Kind.RAISED for g in result.gradients):
        return []
    first = result.errors[0]
    raised = first.raised
    if raised.used_autograd and result.root and result.root.diagnosis.kind == Kind.AUTOGRAD_USED:
        return []
    writing = f", in the line that writes {raised.gradient}" if raised.gradient else ""
    what = (f"Your code does not parse: a syntax error at {raised.where}{writing}:" if raised.is_syntax_error
            else f"Your code stopped at {raised.where}{writing} ({first.instance} instance):" if raised.ended
            else f"Your code raised at {raised.where}{writing} ({first.instance} instance):")
    lines = ["", click.style(what, fg="red")]
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
            + click.style(word, fg=colour), *_wrap(c.reason)]


def _verdict(result: CheckResult) -> str:
    graded = [g for g in result.gradients if g.status != NOT_DEFINED]
    total = len(graded)
    instances = len(result.instances)
    if result.passed:
        exact = sum(bool(g.exact) for g in graded)
        subject = f"All {total} gradients match" if total > 1 else f"{graded[0].name} matches"
        rounding = ("" if exact == total else
                    f"; {'the other ' + str(total - exact) if exact else 'they'} differ only by rounding, "
                    "a few units in the last place, which is not a mistake")
        trains = " Training with them converges like autograd." if result.convergence else ""
        return click.style("\n".join(textwrap.wrap(
            f"{subject} autograd on all {instances} instances ({exact} of {total} bit-exact on "
            f"the lecture's{rounding}).{trains}", WIDTH)), fg="green", bold=True)
    passed = sum(g.status == PASS for g in graded)
    stop = result.errors[0].raised if result.errors else None
    if stop and (stop.is_syntax_error or stop.ended):
        what = ("fix the syntax error at" if stop.is_syntax_error else
                "your code ended its process at" if stop.stop == Stop.PROCESS_ENDED else
                "your code was still running, out of time, at")
        return click.style("\n".join(textwrap.wrap(f"{passed}/{total} gradients pass: {what} {stop.where}.", WIDTH)),
                           fg="red", bold=True)
    if not result.errors and all(g.status in (PASS, MISSING) for g in graded) and passed < total:
        # Not written yet is not wrong: point at the next gradient to write, as for an empty file.
        following = next(g for g in result.gradients if g.status == MISSING)
        so_far = (f"0/{total} gradients computed yet: start with {following.name}." if passed == 0 else
                  f"{passed}/{total} gradients computed so far, all right; next: {following.name}"
                  + (f" ({_slip(following)})." if following.written_as else "."))
        return "\n".join([click.style(so_far,
                                       fg="yellow", bold=True), *_wrap(f"Hint: {following.hint}", indent="")])
    wrong = next((g for g in graded if g.status != PASS), None)
    if wrong is None:
        return click.style(f"All {total} gradients pass the gradient check, but training with them does not "
                           "track autograd.", fg="red", bold=True)
    name = result.root_cause or wrong.name
    fix = _FIX_FIRST.get(result.root.diagnosis.kind) if result.root else None
    caught = ""
    if result.convergence:  # exercise 4: say which part caught the mistake first
        caught = (" The gradient check catches it first; training with them "
                  + ("still tracks autograd." if result.convergence.passed else "fails too."))
    return click.style("\n".join(textwrap.wrap(
        f"{passed}/{total} gradients pass.{caught} {fix or f'Fix {name} first.'}", WIDTH)),
        fg="red", bold=True)
