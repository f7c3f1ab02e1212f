"""The exercise stubs learners fill in, `.py` and `.ipynb`, rendered from the exercise definitions."""
from __future__ import annotations

import textwrap
from pathlib import Path

from ..engine.exercises.exercise import Exercise
from ..engine.reading.cells import SubmissionError, notebook_tag
from ..engine.reading.submission import read_submission

CHECK_COMMAND = {"py": "ninja check {key} {key}.py", "ipynb": 'check_answer("{key}") in the last cell'}


def _fill_note(exercise: Exercise, suffix: str) -> str:
    command = CHECK_COMMAND[suffix].format(key=exercise.key)
    return textwrap.fill(f"{exercise.FILL_NOTE} Check your work with:  {command}", width=88)


def render_py(exercise: Exercise) -> str:
    return (f'"""{exercise.title}.\n\n{textwrap.fill(exercise.task, width=88)}\n\n'
            f"{exercise.briefing()}\n\n{_fill_note(exercise, 'py')}\n"
            f'"""\n\n{exercise.template()}\n')


def render_ipynb(exercise: Exercise) -> str:
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    key = exercise.key
    # An answer that defines its own classes is given nothing to work on.
    setup = [] if exercise.DEFINES else [
        new_code_cell("# The lecture's forward pass on its own batch, by the lecture's names.\n"
                      "from backprop_ninja import exercise_namespace\n"
                      f'globals().update(exercise_namespace("{key}"))', id=f"{key}-setup")]
    cells = [
        new_markdown_cell(f"# {exercise.title}\n\n{exercise.task}", id=f"{key}-task"),
        *setup,
        new_markdown_cell(f"{exercise.briefing()}\n\n"
                          f"{_fill_note(exercise, 'ipynb')}\n\nThe cell below is your answer "
                          f"(it carries the tag `{notebook_tag(key)}`, by which `ninja check` finds "
                          "it in the saved notebook). Run it, then the check after it: that checks "
                          "the answer cell you ran last, wherever this notebook runs.",
                          id=f"{key}-namespace"),
        new_code_cell(exercise.template(), id=f"{key}-answer",
                      metadata={"tags": [notebook_tag(key)]}),
        new_code_cell("# The same check as `ninja check`, on the answer cell you ran last.\n"
                      f'from backprop_ninja import check_answer\ncheck_answer("{key}")', id=f"{key}-check"),
    ]
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    return nbformat.writes(notebook)


def render_stubs(exercise: Exercise) -> dict[str, str]:
    """File name -> text for every stub of `exercise`."""
    return {f"{exercise.key}.py": render_py(exercise), f"{exercise.key}.ipynb": render_ipynb(exercise)}


def working_copy(exercise: Exercise, folders: tuple[Path, ...]) -> tuple[Path | None, str]:
    """The learner's copy of `exercise` in the first of `folders` that holds one, by a rule they can
    predict (`ninja check --help` states it): the file changed from its stub, the .py where both are;
    and a note on the choice when there was one to make."""
    for folder in folders:
        found = [folder / f"{exercise.key}{suffix}" for suffix in (".py", ".ipynb")]
        found = [p for p in found if p.is_file()]
        changed = [p for p in found if not is_untouched(p, exercise)]
        if found:
            note = (f"{changed[1]} is changed too: `ninja check {exercise.key} {changed[1]}` checks it"
                    if len(changed) > 1 else "")
            return (changed or found)[0], note
    return None, ""


def is_untouched(path: Path, exercise: Exercise) -> bool:
    """Is `path` still the stub of `exercise` as `ninja init` wrote it, as far as its answer goes?"""
    try:
        if path.suffix == ".py":
            return path.read_text(encoding="utf-8") == render_py(exercise)
        snippets = read_submission(path, exercise.key).snippets
    except (OSError, UnicodeDecodeError, SubmissionError):
        return False
    # The reading ends each cell's code with a newline, which the stub's cell does not have.
    return [s.source.strip() for s in snippets] == [exercise.template().strip()]
