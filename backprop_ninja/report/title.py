"""A report's default title: the class, named by the folder its submissions came from."""
from __future__ import annotations

import os.path
from pathlib import PurePath

from .summary import Report


def class_title(report: Report) -> str:
    """The folder the learners' folders (or files) sit in, from the paths `ninja grade` was given:
    `submitted` for submitted/ada/ex1.py and submitted/bob/nb.ipynb. The gradebook's file name where
    the paths name no such folder (`ninja grade .`, or classes from places with no folder in common)."""
    folders = [_class_folder(a.submission, learner.learner) for learner in report.learners for a in learner.attempts]
    try:
        name = PurePath(os.path.commonpath(folders)).name
    except ValueError:  # absolute and relative paths mixed, or no attempt at all
        name = ""
    return name if name not in ("", "..") else PurePath(report.gradebook).name


def _class_folder(submission: str, learner: str) -> str:
    """The folder that holds the learner's own folder on `submission`'s path; the file's folder where
    none is the learner's (an id taken from the file's name)."""
    folders = PurePath(submission).parent.parts
    if learner not in folders:
        return str(PurePath(submission).parent)
    return str(PurePath(*folders[:len(folders) - 1 - folders[::-1].index(learner)]))
