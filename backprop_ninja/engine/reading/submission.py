"""A learner's submission (a `.py` file or a notebook) as the code each exercise's check runs: one
reader for `ninja check`, `ninja grade`, Gradescope, the cluster's workers and `check_answer`.

A notebook's cells tagged as an exercise's answer are that answer. Otherwise, for the packs whose
notebooks are written the lecture's way, an answer is found by what the cells compute
(`answers.lecture_answers`), and for an answer made of definitions (a `Value` class), by what they
define. A `.py` file is the answer its name or its gradients say, run whole; a file that ports the
lecture (its own data, forward pass and training loop) is read as a notebook's cells are.
"""
from __future__ import annotations

import ast
from pathlib import Path

from .answers import Answers, Submission, definitions, lecture_answers
from .cells import Cell, Snippet, SubmissionError, notebook_tag, read_cells, script_cells, text_of
from .slicing import bound_anew
from .syntax import written_names, written_on_line


def read_submission(path: Path, exercise: str, answers: Answers | None = None) -> Submission:
    """The code of `path` for `exercise`; SubmissionError where it has none."""
    text = text_of(path)
    cells = read_cells(path, text)
    if path.suffix == ".py":
        ports = answers is not None and _ports_the_lecture(text, (exercise,), answers)
        ported = answer_in_cells(cells, exercise, answers) if answers and ports else None
        return ported or Submission((_py_snippet(path, text, exercise, answers),))
    found = _tagged(cells, exercise, answers) or (answer_in_cells(cells, exercise, answers) if answers else None)
    if found is None:
        writes = (f", nor a cell that answers it by what it computes ({', '.join(answers.names[exercise][:3])}, "
                  "...)" if answers else "")
        raise SubmissionError(f"{path}: no code cell tagged '{notebook_tag(exercise)}' (the answer cell of "
                              f"{exercise}){writes}")
    return found


def read_submissions(path: Path, answers: Answers, content: bytes | None = None) -> dict[str, Submission]:
    """Every exercise `path` answers, with its code, reading the file once (or, given its `content`,
    not at all: a grader elsewhere sends it). SubmissionError for a file that cannot be read at all."""
    text = text_of(path, content)
    cells = read_cells(path, text)
    ported = path.suffix != ".py" or _ports_the_lecture(text, answers.untagged, answers)
    lecture = lecture_answers(cells, answers) if ported else {}
    if path.suffix == ".py" and not lecture:
        key = _py_exercise(path, text, answers)
        return {key: Submission((_py_snippet(path, text, key, answers),))} if key else {}
    found = {}
    for key in answers.names:
        answer = _tagged(cells, key, answers) or lecture.get(key) or (
            _by_definition(cells, key, answers) if key in answers.defines and key in answers.untagged else None)
        if answer:
            found[key] = answer
    return found


def answer_in_cells(cells: list[Cell], exercise: str, answers: Answers) -> Submission | None:
    """`exercise`'s answer among untagged cells, in the order they ran: by what they define, or by what
    they compute; for other packs' exercises, the last cell that assigns one of its gradients."""
    if exercise in answers.defines:
        return _by_definition(cells, exercise, answers)
    if exercise in answers.untagged:
        return lecture_answers(cells, answers).get(exercise)
    return last_assigning(cells, answers.names[exercise])


def last_assigning(cells: list[Cell], names: tuple[str, ...]) -> Submission | None:
    """The last cell that assigns one of `names` (even only to None: a stub's untouched answer; read
    from its lines where it does not parse, so that the check says where it breaks)."""
    cell = next((cell for cell in reversed(cells) if _assigns(cell.source, names)), None)
    if cell is None:
        return None
    return Submission((cell.snippet(),), found=f"{cell.label}, the last cell that assigns its gradients")


def _by_definition(cells: list[Cell], exercise: str, answers: Answers) -> Submission | None:
    found = definitions([cell.snippet() for cell in cells], answers.names[exercise])
    if not found:
        return None
    label = next(cell.label for cell in cells if cell.origin == found[-1].origin)
    return Submission(found, found=f"{label}, found by what it defines")


def _assigns(source: str, names: tuple[str, ...]) -> bool:
    try:
        return bool(written_names(ast.parse(source)) & set(names))
    except SyntaxError:
        return any(written_on_line(line, names) for line in source.splitlines())


def _tagged(cells: list[Cell], exercise: str, answers: Answers | None) -> Submission | None:
    """The cells tagged as `exercise`'s answer, with a warning for each untagged cell that looks like
    part of it: it assigns one of its gradients after the first tagged cell, or defines a function
    the tagged cells call."""
    tag = notebook_tag(exercise)
    snippets = tuple(cell.snippet() for cell in cells if tag in cell.tags)
    if not snippets:
        return None
    names = answers.names[exercise] if answers else ()
    first = next(i for i, cell in enumerate(cells) if tag in cell.tags)
    called = set().union(*(_names(s.source)[1] for s in snippets))
    warnings = []
    for i, cell in enumerate(cells):
        assigned, _, defined = _names(cell.source)
        looks_like = sorted(assigned & set(names)) if i > first else []
        helpers = sorted(defined & called)
        if tag in cell.tags or not (looks_like or helpers):
            continue
        what = [f"assigns {', '.join(looks_like)}"] * bool(looks_like) + \
            [f"defines {', '.join(helpers)}, which your answer calls"] * bool(helpers)
        warnings.append(f"{cell.where} {' and '.join(what)}, but is not tagged '{tag}', so it is not checked: "
                        "add the tag to it (Jupyter: View > Cell Toolbar > Tags; JupyterLab: the property inspector), "
                        "or move its code into the tagged cell")
    return Submission(snippets, tuple(warnings))


def _names(source: str) -> tuple[set[str], set[str], set[str]]:
    """The names a cell writes, the names it calls, and the functions and classes it defines."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(), set(), set()
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    defined = {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    return written_names(tree), called, defined


# -- .py files -----------------------------------------------------------------------------------------


def _py_snippet(path: Path, text: str, exercise: str, answers: Answers | None) -> Snippet:
    """A `.py` file's code: whole, or for an exercise answered by definitions, those it needs."""
    whole = Snippet(text, str(path))
    if answers and exercise in answers.defines:
        return next(iter(definitions([whole], answers.names[exercise])), whole)
    return whole


def _py_exercise(path: Path, text: str, answers: Answers) -> str | None:
    """The exercise a `.py` file answers: the one its name says (`ex2.py`); else the training one
    for its update list (the lecture's `grads`); else the one whose gradients it writes (the one with
    the fewest that holds them all: a file writing only dlogits is exercise 2's, not 1's)."""
    if path.stem in answers.names:
        return path.stem
    try:
        writes = {n for node in ast.parse(text).body for n in written_names(node)}
    except SyntaxError:
        return None
    if answers.update_list in writes and answers.in_training_loop:
        return answers.in_training_loop
    by_definition = next((k for k in answers.defines if writes & set(answers.names[k])), None)
    if by_definition:
        return by_definition
    writes &= set().union(*answers.names.values())
    return min((k for k in answers.untagged if k != answers.in_training_loop and k not in answers.defines
                and writes and writes <= set(answers.names[k])), key=lambda k: len(answers.names[k]), default=None)


def _ports_the_lecture(text: str, keys: tuple[str, ...], answers: Answers) -> bool:
    """Does a `.py` file build what the grader provides one of `keys` itself (the forward pass, the
    parameters: the lecture ported into a script, or split into `# %%` cells), rather than answer
    one exercise?"""
    keys = tuple(key for key in keys if key in answers.untagged and key not in answers.defines)
    if not keys:
        return False
    if len(script_cells("", text)) > 1:
        return True
    try:
        bound = {name for node in ast.parse(text).body for name in bound_anew(node)}
    except SyntaxError:
        return False
    return any(len(bound & (answers.provided.get(key, frozenset()) - {"torch", "F"})) >= 3 for key in keys)
