"""The report's tables as rows, and rendered as text: for a terminal or as Markdown, with a
learner's history and feedback, and the CSV an LMS gradebook imports. `html` lays out the same rows."""
from __future__ import annotations

import csv
import io
import math

import tabulate as tabulate_module
from tabulate import tabulate

from ..engine.results.display import csv_cell, markdown_text, visible
from .summary import MOST_COMMON_KINDS, Learner, Report

SECTIONS = ("class", "gradients", "progress")
TITLES = {"class": "The class", "gradients": "Gradients: who got each right, and the mistakes made",
          "progress": "Progress: each learner's scores, attempt by attempt"}
CLASS_NOTE = "Each exercise: the best score, a check where it passed, (attempts)."
_BAR = 10  # characters of the bar showing a gradient's share of learners who never got it right

Table = tuple[list[str], list[list]]


def whole_percent(value: float) -> int:
    """Rounded down, so that only what is whole shows as 100."""
    return math.floor(100 * value + 1e-9)


def percent(value: float) -> str:
    return f"{whole_percent(value)}%"


def _date(timestamp: str) -> str:
    return timestamp[:10]


def class_rows(report: Report) -> Table:
    """One row per learner: each exercise's best score, a check where it passed, and the attempts."""
    rows = []
    for learner in report.learners:
        cells = [f"{percent(s.best)}{' ✓' if s.passed else ''} ({s.attempts})"
                 if (s := learner.standings.get(e)) else "-" for e in report.exercises]
        rows.append([learner.learner, *cells])
    return ["learner", *report.exercises], rows


def totals_rows(report: Report) -> Table:
    return (["exercise", "learners", "passed", "pass rate", "mean best score"],
            [[t.exercise, t.learners, f"{t.passed}/{t.learners}", percent(t.passed / t.learners),
              percent(t.mean_best)] for t in report.totals])


def _bar(share: float) -> str:
    filled = round(share * _BAR)
    return "#" * filled + "." * (_BAR - filled)


def gradient_rows(report: Report, exercise: str, kinds: int = MOST_COMMON_KINDS) -> Table:
    """The exercise's gradients in backprop order: learners right at their first attempt, later, or
    never, with a bar of the never share so the hard ones stand out, and the `kinds` commonest
    mistakes."""
    rows = [[step, d.gradient, d.first_attempt, d.eventually, d.never,
             _bar(d.share(d.never)),
             ", ".join(f"{kind} {n}" for kind, n in d.kinds[:kinds]) or "-"]
            for step, d in enumerate((d for d in report.difficulty if d.exercise == exercise), start=1)]
    return ["#", "gradient", "1st try", "later", "never", "", "common mistakes (learners)"], rows


def _span(first: str, last: str) -> str:
    """Two dates as one short span: 2026-10-01 to 10-08 (the year once where it is the same)."""
    return first if first == last else f"{first} to {last[5:] if last[:4] == first[:4] else last}"


def progress_rows(report: Report) -> Table:
    """One row per learner: attempts, the dates they span, and each exercise's score (in percent) at
    each attempt, oldest first."""
    rows = []
    for learner in report.learners:
        dates = [_date(a.submitted_at) for a in learner.attempts]
        trajectories = ("→".join(str(whole_percent(s)) for s in learner.trajectory(e)) or "-"
                        for e in report.exercises)
        rows.append([learner.learner, len(learner.attempts), _span(dates[0], dates[-1]), *trajectories])
    return ["learner", "attempts", "dates", *(f"{e} %" for e in report.exercises)], rows


def history_rows(report: Report, learner: Learner) -> Table:
    """A learner's attempts with their dates and scores (and why one could not be graded, if so)."""
    errors = any(a.error for a in learner.attempts)
    rows = [[a.number, _date(a.submitted_at), a.submission,
             *(percent(a.scores[e]) if e in a.scores else "-" for e in report.exercises), *([a.error or ""] * errors)]
            for a in learner.attempts]
    return ["attempt", "submitted", "file", *report.exercises, *(["error"] * errors)], rows


def _table(table: Table, markdown: bool) -> str:
    headers, rows = table
    # A learner's id or error, shown as it is: in Markdown its markup escaped ("|" would end a cell),
    # on a terminal its escape sequences.
    rows = [[_shown(cell, markdown) for cell in row] for row in rows]
    # tabulate pads every header by two (MIN_PADDING, a module global it has no argument for): these
    # tables are wide enough without it.
    padding, tabulate_module.MIN_PADDING = tabulate_module.MIN_PADDING, 0
    try:
        return tabulate(rows, headers=headers, tablefmt="github" if markdown else "simple", disable_numparse=True)
    finally:
        tabulate_module.MIN_PADDING = padding


def _shown(text: object, markdown: bool) -> str:
    return markdown_text(text) if markdown else visible(str(text))


def _heading(text: str, markdown: bool, level: int = 2) -> str:
    return f"{'#' * level} {text}" if markdown else f"{text}\n{'=-'[level - 2] * len(text)}"


def render(report: Report, sections: tuple[str, ...] = SECTIONS, markdown: bool = False) -> str:
    blocks = [f"# Class report: {report.gradebook}" if markdown else f"Class report: {report.gradebook}"]
    for section in sections:
        blocks.append(_heading(TITLES[section], markdown))
        if section == "class":
            blocks += [CLASS_NOTE, _table(class_rows(report), markdown), _table(totals_rows(report), markdown)]
        elif section == "gradients":
            for exercise in report.exercises:
                # two kinds in a terminal, to fit its width
                table = gradient_rows(report, exercise, MOST_COMMON_KINDS if markdown else 2)
                blocks += [_heading(exercise, markdown, 3), _table(table, markdown)]
        else:
            blocks.append(_table(progress_rows(report), markdown))
    return "\n\n".join(blocks) + "\n"


def learner_view(report: Report, learner: Learner, markdown: bool = False) -> str:
    """One learner's attempts, then where each exercise stands at their latest attempt at it: the
    first wrong step, the kind of mistake and the hint. The feedback a teaching assistant sends."""
    lines = [f"# {_shown(learner.learner, markdown)}" if markdown else f"Learner {visible(learner.learner)}", "",
             _table(history_rows(report, learner), markdown), "", _heading("Where each exercise stands", markdown), ""]
    for exercise, f in learner.latest.items():
        lines.append(f"{'- ' if markdown else ''}{exercise}: {'passed' if f.passed else percent(f.score)}")
        if f.found:
            lines.append(f"  answer: {_shown(f.found, markdown)}")
        if f.root_cause:
            lines.append(f"  first wrong step: {f.root_cause}" + (f" ({f.kind})" if f.kind else ""))
        if f.hint:
            lines.append(f"  hint: {f.hint}")
    return "\n".join(lines) + "\n"


def to_csv(report: Report) -> str:
    """One row per learner and a column per exercise's best score (0 to 100), as an LMS imports it;
    an id a spreadsheet would read as a formula is text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["learner", *report.exercises])
    for learner in report.learners:
        writer.writerow([csv_cell(learner.learner), *(f"{100 * s.best:.1f}" if (s := learner.standings.get(e)) else ""
                                            for e in report.exercises)])
    return out.getvalue()
