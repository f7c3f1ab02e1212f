"""The report as one self-contained HTML page: the tables, and plots drawn with matplotlib and
embedded as PNG (the score distribution per exercise, pass rate per gradient, attempts over time)."""
from __future__ import annotations

import base64
import html
import io
from collections import Counter
from datetime import date

from matplotlib.dates import date2num
from matplotlib.figure import Figure  # drawn straight to PNG: no pyplot, no display, no backend chosen
from matplotlib.ticker import MaxNLocator
from tabulate import tabulate

from . import text
from .summary import Report

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
th { background: #f2f2f2; }
img { max-width: 100%; }
.note { color: #555; }
"""
_COLOURS = {"first try": "#2e7d32", "later": "#f9a825", "never": "#c62828"}


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return f'<img alt="" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode("ascii")}">'


def _scores(report: Report) -> Figure:
    """A histogram of the learners' best scores, one per exercise."""
    figure = Figure(figsize=(3 * len(report.exercises), 2.6), layout="constrained")
    for axes, exercise in zip(figure.subplots(1, len(report.exercises), squeeze=False)[0], report.exercises):
        best = [s.best * 100 for learner in report.learners if (s := learner.standings.get(exercise))]
        axes.hist(best, bins=[i * 10 for i in range(11)], color="#1565c0")
        axes.set(title=exercise, xlabel="best score (%)", ylabel="learners")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    return figure


def _rates(report: Report) -> Figure:
    """Each gradient's learners right at the first attempt, later, or never, as stacked bars."""
    counts = [sum(d.exercise == e for d in report.difficulty) for e in report.exercises]
    figure = Figure(figsize=(9, 0.5 + 0.25 * sum(counts) + 0.6 * len(counts)), layout="constrained")
    panels = figure.subplots(len(counts), 1, squeeze=False, height_ratios=counts)[:, 0]
    for axes, exercise in zip(panels, report.exercises):
        rows = [d for d in report.difficulty if d.exercise == exercise][::-1]  # backprop order, top down
        names, left = [d.gradient for d in rows], [0.0] * len(rows)
        for label, part in (("first try", "first_attempt"), ("later", "eventually"), ("never", "never")):
            share = [100 * d.share(getattr(d, part)) for d in rows]
            axes.barh(names, share, left=left, color=_COLOURS[label], label=label)
            left = [a + b for a, b in zip(left, share)]
        axes.set(title=exercise, xlim=(0, 100), xlabel="learners (%)")
    figure.axes[0].legend(loc="lower left", bbox_to_anchor=(0, 1.05), ncols=3)
    return figure


def _attempts(report: Report) -> Figure:
    """Attempts per day, by the files' modification times."""
    per_day = Counter(date.fromisoformat(a.submitted_at[:10]) for learner in report.learners for a in learner.attempts)
    days = sorted(per_day)
    figure = Figure(figsize=(9, 2.6), layout="constrained")
    axes = figure.subplots()
    axes.bar(date2num(days), [per_day[d] for d in days], color="#6a1b9a")
    axes.xaxis_date()  # dates: the axis spaces its own ticks however many days there are
    axes.set(ylabel="attempts", title="Attempts per day (by submission time)")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    figure.autofmt_xdate()
    return figure


def _figures(report: Report) -> list[tuple[str, str]]:
    graded = [("Best scores per exercise", _scores), ("Pass rate per gradient", _rates)] if report.exercises else []
    return [(caption, _png(draw(report))) for caption, draw in [*graded, ("Attempts over time", _attempts)]]


def _table(table: text.Table) -> str:
    headers, rows = table
    return tabulate(rows, headers=headers, tablefmt="html", disable_numparse=True)  # escapes every cell


def render_html(report: Report) -> str:
    title = f"Class report: {report.gradebook}"
    body = [f"<h1>{html.escape(title)}</h1>", f"<h2>{text.TITLES['class']}</h2>", _table(text.totals_rows(report))]
    for caption, image in _figures(report):
        body += [f"<h3>{caption}</h3>", image]
    body += [f'<p class="note">{text.CLASS_NOTE}</p>', _table(text.class_rows(report)),
             f"<h2>{text.TITLES['gradients']}</h2>"]
    for exercise in report.exercises:
        body += [f"<h3>{html.escape(exercise)}</h3>", _table(text.gradient_rows(report, exercise))]
    body += [f"<h2>{text.TITLES['progress']}</h2>", _table(text.progress_rows(report))]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
