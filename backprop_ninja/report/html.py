"""The report as one self-contained HTML page: the tables, and plots drawn with matplotlib and
embedded as PNG (the score distribution per exercise, pass rate per gradient, attempts per day), and
the tables' shares drawn as bars."""
from __future__ import annotations

import base64
import html
import io
from collections import Counter
from datetime import date

from matplotlib.figure import Figure  # drawn straight to PNG: no pyplot, no display, no backend chosen
from matplotlib.ticker import MaxNLocator
from tabulate import tabulate

from . import text
from .summary import Report
from .title import class_title

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
th { background: #f2f2f2; }
img { max-width: 100%; }
.note { color: #555; }
.bar { display: inline-block; width: 6em; height: 0.8em; margin-right: 0.4em; background: #eee;
       vertical-align: middle; }
.bar > span { display: block; height: 100%; background: #c62828; }  /* the plots' never */
"""
_COLOURS = {"first try": "#2e7d32", "later": "#f9a825", "never": "#c62828"}
_DATE_LABELS = 20  # at most, under the attempts per day


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


def attempts_per_day(report: Report) -> list[tuple[date, int]]:
    """The attempts on each date there were any, oldest first, by the date (UTC) of the files'
    modification times, as the tables show it."""
    per_day = Counter(date.fromisoformat(a.submitted_at[:10]) for learner in report.learners for a in learner.attempts)
    return sorted(per_day.items())


def _attempts(report: Report) -> Figure:
    """A bar per date, labelled with it: a time axis would show a single day as hours around midnight."""
    days = attempts_per_day(report)
    figure = Figure(figsize=(min(9, 3 + 0.4 * len(days)), 2.6), layout="constrained")
    axes = figure.subplots()
    axes.bar(range(len(days)), [n for _, n in days], color="#6a1b9a")
    every = -(-len(days) // _DATE_LABELS)  # a label on every date, or every other, ...: never overlapping
    axes.set_xticks(range(0, len(days), every), [d.isoformat() for d, _ in days[::every]])
    axes.set(ylabel="attempts", title="Attempts per day (by submission time)")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    figure.autofmt_xdate()
    return figure


def _figures(report: Report) -> list[tuple[str, str]]:
    graded = [("Best scores per exercise", _scores), ("Pass rate per gradient", _rates)] if report.exercises else []
    return [(caption, _png(draw(report))) for caption, draw in [*graded, ("Attempts over time", _attempts)]]


def _bar(share: text.Share) -> str:
    """A share drawn as a bar filled that far, then written as a percentage: what a screen reader reads,
    the bar being hidden from it."""
    shown = text.percent(share.value)
    return (f'<span class="bar" title="{shown}" aria-hidden="true"><span style="width: {100 * share.value:.1f}%">'
            f"</span></span>{shown}")


def _table(table: text.Table) -> str:
    headers, rows = table
    # Every cell escaped here (the learners' ids, their files, ...) but the bars drawn for shares.
    cells = [[_bar(cell) if isinstance(cell, text.Share) else html.escape(str(cell)) for cell in row] for row in rows]
    return tabulate(cells, headers=[html.escape(h) for h in headers], tablefmt="unsafehtml", disable_numparse=True)


def render_html(report: Report, title: str | None = None) -> str:
    """The page, under `title` (the user's text, escaped; by default the class's folder)."""
    title = f"Class report: {class_title(report) if title is None else title}"
    body = [f"<h1>{html.escape(title)}</h1>", f"<h2>{text.TITLES['class']}</h2>", _table(text.totals_rows(report))]
    for caption, image in _figures(report):
        body += [f"<h3>{caption}</h3>", image]
    body += [f'<p class="note">{text.CLASS_NOTE} {text.SCORING_NOTE[report.scoring]}</p>',
             _table(text.class_rows(report))]
    if failed := text.not_graded(report):
        body += ["<p>Latest files that could not be graded:</p><ul>",
                 *(f"<li>{html.escape(who)}: {html.escape(why)}</li>" for who, why in failed), "</ul>"]
    body.append(f"<h2>{text.TITLES['gradients']}</h2>")
    for exercise in report.exercises:
        body += [f"<h3>{html.escape(exercise)}</h3>", _table(text.gradient_rows(report, exercise))]
    body += [f"<h2>{text.TITLES['progress']}</h2>", _table(text.progress_rows(report))]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
