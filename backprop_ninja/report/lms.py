"""Grades an LMS imports: each learner's best score per exercise as points (by the report's scoring
policy, rounded down to hundredths as everywhere), in Canvas's gradebook import layout or as a plain
points CSV with a total (Moodle's CSV import, or any spreadsheet). A learner with no attempt at an
exercise gets an empty cell, which an LMS leaves ungraded rather than reading as 0."""
from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from ..engine.results.display import csv_cell
from ..engine.results.records import points
from .summary import Learner, Report

DEFAULT_POINTS = 25.0  # per exercise, as Gradescope's tests: makemore4's four make 100
# Canvas's own export begins with these; an import matches a student by one of the first four (the
# learner goes in as the SIS login id, the folder name nbgrader and `ninja grade` know them by).
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


def _points(learner: Learner, exercise: str, out_of: Mapping[str, float]) -> float | None:
    standing = learner.standings.get(exercise)
    return None if standing is None else points(standing.best, out_of[exercise])


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def out_of(report: Report, given: Mapping[str, float], default: float = DEFAULT_POINTS) -> dict[str, float]:
    """Each exercise's points: as `given` for it, else `default`."""
    return {exercise: given.get(exercise, default) for exercise in report.exercises}


def to_points_csv(report: Report, out_of: Mapping[str, float]) -> str:
    """A row per learner: points per exercise, and their total, under a header naming each
    exercise with its points."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["learner", *(f"{e} ({out_of[e]:g})" for e in report.exercises),
                     f"total ({sum(out_of.values()):g})"])
    for learner in report.learners:
        earned = [_points(learner, e, out_of) for e in report.exercises]
        writer.writerow([csv_cell(learner.learner), *map(_cell, earned), _cell(sum(p or 0.0 for p in earned))])
    return out.getvalue()


def to_canvas(report: Report, out_of: Mapping[str, float]) -> str:
    """Canvas's gradebook import layout: its five student columns, a column per exercise (a new
    assignment where the course has none of that name), the points possible on the second row.
    Canvas totals the assignments itself."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CANVAS_COLUMNS, *report.exercises])
    writer.writerow(["Points Possible", "", "", "", "", *(f"{out_of[e]:g}" for e in report.exercises)])
    for learner in report.learners:
        name = csv_cell(learner.learner)
        writer.writerow([name, "", "", name, "", *(_cell(_points(learner, e, out_of)) for e in report.exercises)])
    return out.getvalue()
