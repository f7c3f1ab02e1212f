"""The report's tables as rows, and rendered as text: for a terminal or as Markdown, with a
learner's history and feedback, and the CSV an LMS gradebook imports. `html` lays out the same rows."""
from __future__ import annotations

import csv
import io
import re
import textwrap
from dataclasses import dataclass

import tabulate as tabulate_module
from tabulate import tabulate

from ..engine.results.display import csv_cell, markdown_text, visible
from ..engine.results.records import Fix, Scoring, whole_percent
from .summary import MOST_COMMON_KINDS, Feedback, Learner, Report
from .title import class_title

SECTIONS = ("class", "gradients", "progress", "similar")
DEFAULT_SECTIONS = SECTIONS[:3]  # similar answers only when asked for: it reads every answer, and is not for every eye
TITLES = {"class": "The class", "gradients": "Gradients: who got each right, and the mistakes made",
          "progress": "Progress: each learner's scores, attempt by attempt",
          "similar": "Similar answers: to review, never a grade"}
SIMILAR_NOTE = ("Learners whose latest answers to an exercise share what answers rarely share: the same rare wrong "
                "values, or code that is rare in the class written alike (names, comments, spacing and the order of "
                "independent lines aside). Strongest first: the strength is the evidence of rarity, in nats, and a "
                "pair needs more than the log of the number of pairs in the class. For a person to review: it is not "
                "a grade, and no proof of copying.")
CLASS_NOTE = "Each exercise: the best score, a check where it passed, (attempts)."
WIDTH = 88  # a terminal's, for text that is not a table
SCORING_NOTE = {Scoring.STEPS: "Scores count the gradients whose own step is right (--scoring steps).",
                Scoring.GRADIENTS: "Scores count the gradients that pass (--scoring gradients).",
                Scoring.ALL: "Scores are all or nothing (--scoring all)."}
_BAR = 10  # characters of the bar showing a gradient's share of learners who never got it right

Table = tuple[list[str], list[list]]


def percent(value: float) -> str:
    return f"{whole_percent(value)}%"


def _date(timestamp: str) -> str:
    return timestamp[:10]


def class_rows(report: Report) -> Table:
    """One row per learner: each exercise's best score, a check where it passed (or why its code stopped
    short), and the attempts."""
    rows = []
    for learner in report.learners:
        cells = [f"{percent(s.best)}{' ✓' if s.passed else ''}{f' {s.stop.words}' if s.stop else ''} ({s.attempts})"
                 if (s := learner.standings.get(e)) else "-" for e in report.exercises]
        rows.append([learner.learner, *cells])
    return ["learner", *report.exercises], rows


def not_graded(report: Report) -> list[tuple[str, str]]:
    """(learner, why) for each learner whose latest attempt holds a file that could not be graded."""
    return [(learner.learner, error) for learner in report.learners if (error := learner.attempts[-1].error)]


def totals_rows(report: Report) -> Table:
    return (["exercise", "learners", "passed", "pass rate", "mean best score"],
            [[t.exercise, t.learners, f"{t.passed}/{t.learners}", percent(t.passed / t.learners),
              percent(t.mean_best)] for t in report.totals])


@dataclass(frozen=True)
class Share:
    """A share of learners (0 to 1) in a table's row, kept a number so that each format draws its
    own bar: characters here, a drawn bar in `html`."""

    value: float


def _bar(share: float) -> str:
    filled = round(share * _BAR)
    return "#" * filled + "." * (_BAR - filled)


def gradient_rows(report: Report, exercise: str, kinds: int = MOST_COMMON_KINDS) -> Table:
    """The exercise's gradients in backprop order: learners right at their first attempt, later, or
    never, with the never share (drawn as a bar) so the hard ones stand out, and the `kinds` commonest
    mistakes."""
    rows = [[step, d.gradient, d.first_attempt, d.eventually, d.never,
             Share(d.share(d.never)),
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
    rows = [[a.number, _date(a.submitted_at), ", ".join(a.files),
             *(percent(a.scores[e]) if e in a.scores else "-" for e in report.exercises), *([a.error or ""] * errors)]
            for a in learner.attempts]
    return ["attempt", "submitted", "file", *report.exercises, *(["error"] * errors)], rows


def _table(table: Table, markdown: bool) -> str:
    headers, rows = table
    # A learner's id or error, shown as it is: in Markdown its markup escaped ("|" would end a cell),
    # on a terminal its escape sequences.
    rows = [[_shown(_bar(cell.value) if isinstance(cell, Share) else cell, markdown) for cell in row]
            for row in rows]
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


def render(report: Report, sections: tuple[str, ...] = DEFAULT_SECTIONS, markdown: bool = False,
           title: str | None = None) -> str:
    """The report's `sections`, under `title` (the user's text, shown as it is; by default the class's folder)."""
    title = class_title(report) if title is None else title
    blocks = [f"# Class report: {markdown_text(title)}" if markdown else f"Class report: {visible(title)}"]
    for section in sections:
        blocks.append(_heading(TITLES[section], markdown))
        if section == "class":
            blocks += [f"{CLASS_NOTE}\n{SCORING_NOTE[report.scoring]}", _table(class_rows(report), markdown),
                       _table(totals_rows(report), markdown)]
            if failed := not_graded(report):
                blocks.append("Latest files that could not be graded:\n" + "\n".join(
                    textwrap.fill(f"- {_shown(who, markdown)}: {_shown(why, markdown)}", WIDTH, subsequent_indent="  ")
                    for who, why in failed))
        elif section == "gradients":
            for exercise in report.exercises:
                # two kinds in a terminal, to fit its width
                table = gradient_rows(report, exercise, MOST_COMMON_KINDS if markdown else 2)
                blocks += [_heading(exercise, markdown, 3), _table(table, markdown)]
        elif section == "similar":
            blocks += [textwrap.fill(SIMILAR_NOTE, WIDTH), similar_list(report, markdown)]
        else:
            blocks.append(_table(progress_rows(report), markdown))
    return "\n\n".join(blocks) + "\n"


def similar_list(report: Report, markdown: bool) -> str:
    """Each group of similar answers: the exercise, the learners, the strength and the evidence in words."""
    if not report.similar:
        return "None: no answers are alike beyond what the class has in common."
    items = []
    for number, group in enumerate(report.similar, start=1):
        learners = ", ".join(_shown(learner, markdown) for learner in group.learners)
        head = f"{number}. {group.exercise}: {learners} (strength {group.strength:.1f})"
        items.append(f"{head}\n   - {_shown(group.evidence, markdown)}" if markdown else
                     textwrap.fill(head, WIDTH, subsequent_indent="   ") + "\n"
                     + textwrap.fill(visible(group.evidence), WIDTH, initial_indent="   ", subsequent_indent="   "))
    return "\n".join(items)


def learner_view(report: Report, learner: Learner, markdown: bool = False) -> str:
    """One learner's attempts, then where each exercise stands at their latest attempt at it: its score
    (and why the code stopped short, where it did), and, short of a pass, the table of its gradients
    (status, own step, kind), the first wrong step and the hint. The feedback a teaching assistant sends."""
    lines = [f"# {_shown(learner.learner, markdown)}" if markdown else f"Learner {visible(learner.learner)}", "",
             _table(history_rows(report, learner), markdown), "", _heading("Where each exercise stands", markdown), ""]
    if not learner.latest:
        lines += ["No exercise was found in what you handed in: the history above says why for each file.", ""]
    for exercise, f in learner.latest.items():
        why = f" ({f.stop.words})" if f.stop and not f.passed else ""
        lines += [_heading(f"{exercise}: {'passed' if f.passed else percent(f.score)}{why}", markdown, 3), ""]
        if f.found:
            lines += [f"Answer: {_shown(f.found, markdown)}", ""]
        if not f.passed and f.gradients:
            lines += [_table(gradient_lines(f), markdown), ""]
        if f.root_cause:
            lines.append(f"First wrong step: {f.root_cause}" + (f" ({f.kind})" if f.kind else ""))
        if f.hint:
            lines.append(f"Hint: {f.hint}")
        if f.fix:
            lines += _fix(f.fix, markdown)
        if f.root_cause or f.hint:
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _fix(fix: Fix, markdown: bool) -> list[str]:
    """The edit that makes the first wrong step right, as a change of the learner's line (as code,
    shown as it is, in Markdown)."""
    change = fix.change()
    said = f"Fix: this change at {fix.where} makes {fix.gradient} right on every instance:"
    if markdown:
        fence = "`" * max(3, 1 + max(len(run) for run in re.findall(r"`+", fix.before + fix.after) or [""]))
        return [_shown(said, markdown), "", f"{fence}diff", *(visible(line) for line in change), fence]
    return [visible(said), *(f"    {visible(line)}" for line in change)]


def gradient_lines(feedback: Feedback) -> Table:
    """A learner's answer gradient by gradient, in backprop order: status, own step, kind of mistake."""
    own = {True: "right", False: "wrong", None: "-"}
    return (["gradient", "status", "own step", "kind"],
            [[g.gradient, "pass" if g.passed else "FAIL", own[g.own_step], g.kind or "-"] for g in feedback.gradients])


def to_csv(report: Report) -> str:
    """One row per learner and a column per exercise's best score in whole percent (0 to 100, rounded
    down as everywhere), as a spreadsheet reads it; an id a spreadsheet would read as a formula is text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["learner", *report.exercises])
    for learner in report.learners:
        writer.writerow([csv_cell(learner.learner), *(whole_percent(s.best) if (s := learner.standings.get(e)) else ""
                                            for e in report.exercises)])
    return out.getvalue()
