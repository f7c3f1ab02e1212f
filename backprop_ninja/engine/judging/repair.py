"""The smallest edit of the learner's own lines that makes a wrong step right, found by trying it.

Where a gradient's own step is wrong, the lines that write it are edited the ways learners slip
(`edits.py`), one edit at a time, those the diagnosis's kind points to first, then the smallest. Each
edit runs in a worker like any other variant of the learner's code, from right inputs: the first
that makes the step right on every instance is the fix. None is shown that was not run and found
right.
"""
from __future__ import annotations

import ast
import time

from ..exercises.exercise import Exercise, ForwardExercise, Instance
from ..isolation.runner import LearnerCode, Session
from ..reading.cells import Snippet
from ..results.records import PASS, Fix, RootCause, Status
from .edits import Edit, Editing, candidates
from .instrument import LearnerSource, Statement
from .trials import run_trial

# Edits tried at most, the seconds their runs may take in all (an edit may make a loop endless), and the
# seconds the whole search may take (making edits of a huge line takes time too), so that a failing
# check with the search takes well under twice as long as without it.
MOST_TRIES = 120
SEARCH_SECONDS = 2.0
SEARCH_WALL_SECONDS = 4.0


def search(exercise: Exercise, snippets: tuple[Snippet, ...], root: RootCause) -> Fix | None:
    """The first edit of `snippets` (what the worker runs) that makes the root cause's own step right
    on every instance, or None: for a forward pass's backward, the step run from right inputs; for a
    micrograd op, the op probed alone. The edits run in a worker of their own, for SEARCH_SECONDS in all."""
    with Session(SEARCH_SECONDS) as session:
        try:
            return _search(exercise, LearnerCode(snippets, session), root)
        except RecursionError:  # a line nested deeper than Python can rewrite: no edit of it to show
            return None


def _search(exercise: Exercise, code: LearnerCode, root: RootCause) -> Fix | None:
    gradient = next((g for g in exercise.followed if g.name == root.name), None)
    if gradient is None:
        return None
    names = tuple(g.name for g in exercise.followed)
    source = LearnerSource(code.snippets, names)
    statements, output = ((source.writes.get(root.name, []), None) if isinstance(exercise, ForwardExercise)
                          else _method(source, root.name))
    if not statements:
        return None

    def status(snippets: tuple[Snippet, ...], instances: tuple[Instance, ...]) -> tuple[Status, ...]:
        """The root's own step on each of `instances`, with these snippets run."""
        if isinstance(exercise, ForwardExercise):
            edited = LearnerSource(snippets, names)
            if edited.modules is None:
                return (Status.ERROR,)
            trial = run_trial(exercise, code.variant(snippets), (root.name,), edited.checkpoints(), instances)
        else:
            trial = run_trial(exercise, code.variant(snippets), exercise.names, instances=instances)
        return tuple(c.status for c in trial.comparisons[root.name])

    original = status(code.snippets, exercise.instances)
    failing = tuple(i for i, s in zip(exercise.instances, original) if s != PASS)
    order = failing + tuple(i for i in exercise.instances if i not in failing)

    def holds(edit: Edit) -> bool:
        return all(not code.session.stopped and all(s == PASS for s in status(edit.snippets, instances))
                   for instances in (order[:1], order[1:]) if instances)

    editing = Editing(exercise, source, gradient, statements, output)
    deadline = time.monotonic() + SEARCH_WALL_SECONDS
    for tried, edit in enumerate(candidates(editing, root.diagnosis.kind)):
        if tried == MOST_TRIES or code.session.stopped or time.monotonic() > deadline:
            return None
        if holds(edit):
            origin = source.snippets[edit.snippet].origin
            return Fix(root.name, origin, edit.line, edit.before, edit.after)
    return None


def _method(source: LearnerSource, name: str) -> tuple[list[Statement], str | None]:
    """The statements of the method `name` (a Value's op, its `_backward` within), and the name of what
    it returns: the first such method in the code, the learner's coming before any the exercise adds."""
    for snippet, module in enumerate(source.modules or []):
        for node in ast.walk(module):
            if isinstance(node, ast.FunctionDef) and node.name == name:
                statements = [Statement(snippet, (), st) for st in ast.walk(node)
                              if isinstance(st, (ast.Assign, ast.AugAssign, ast.For))]
                returned = next((r.value.id for r in ast.walk(node)
                                 if isinstance(r, ast.Return) and isinstance(r.value, ast.Name)), None)
                return statements, returned
    return [], None
