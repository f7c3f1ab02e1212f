"""Feedback files: one short Markdown file per learner, ready to send."""
from __future__ import annotations

import re
from pathlib import Path

from .summary import Report
from .text import learner_view


def file_name(learner: str) -> str:
    """`<learner>.md`, with anything that could leave the folder or hide the file made harmless."""
    safe = re.sub(r"[^\w.@+-]", "_", learner).lstrip(".") or "_"
    return f"{safe}.md"


def write_feedback(report: Report, folder: Path) -> list[Path]:
    """Write every learner's feedback into `folder` (created if need be); the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for learner in report.learners:
        path = folder / file_name(learner.learner)
        if path in written:  # two ids made the same name harmless: keep both
            path = path.with_name(f"{path.stem}-{len(written) + 1}.md")
        path.write_text(learner_view(report, learner, markdown=True), encoding="utf-8")
        written.append(path)
    return written
