"""Finding each exercise's answer in cells written the lecture's way, with no tags: by what the
cells compute, not by their shape.

The cells, in the order they ran, are one program of top-level statements. An exercise's cells are
those whose gradients are its work (`_owners`); its answer to a gradient is the last value those cells
leave for it, or the value a `cmp(...)` line checked. Its code is a backward slice of the program
from those answers: the statements the values depend on, across cells, stopping at what the grader
provides (the forward pass's tensors, the parameters, the batch, the sizes, the exercise's givens).
Helper lines and the learner's own names come along; scratch cells, dead stores, checks, prints and
untouched template lines fall away. Every line keeps its cell's line number.
"""
from __future__ import annotations

import ast
import importlib.util
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .cells import Cell, Snippet
from .slicing import (Program, Statement, backward_slice, bound_anew, misspelling, names_in_order, only, parse, program,
                      snippets, statements_of)
from .syntax import written_names


@dataclass(frozen=True)
class Answers:
    """What each exercise's code writes (its gradients); those found in a notebook written the
    lecture's way, with no tags, by what they compute; which of those sits inside a training loop;
    those whose answers are the classes and functions they define (a `Value` class); and, for the
    untagged ones, what the grader provides their code (so that an answer's code stops there) and
    which of those are true gradients handed to it (exercise 3's `dhpreact`)."""

    names: Mapping[str, tuple[str, ...]]
    untagged: tuple[str, ...] = ()
    in_training_loop: str | None = None
    # The list that loop's update pairs with the parameters by position (the lecture's `grads`), if any.
    update_list: str | None = None
    # The untagged ones whose lecture checks each gradient with a call `cmp('t', value, t)`, which then
    # answers dt with value.
    checked_by_call: tuple[str, ...] = ()
    defines: tuple[str, ...] = ()
    provided: Mapping[str, frozenset[str]] = field(default_factory=dict)
    given: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # The sizes of each one's lecture instance, by the names the learner's code is given for them.
    sizes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Submission:
    """The code to check, and what the learner should know about how it was found."""

    snippets: tuple[Snippet, ...]
    warnings: tuple[str, ...] = ()
    # How the code was found, where there was any finding to do ("In [9] `# backward`, found by ...").
    found: str = ""
    # What the reading decided that the learner should hear of (a given supplied, a line left out).
    notes: tuple[str, ...] = ()
    # Gradients never written, by the learner's name that looks like a misspelling of theirs.
    misspelled: Mapping[str, str] = field(default_factory=dict)


# -- which cells are whose work ------------------------------------------------------------------------


def lecture_answers(cells: list[Cell], answers: Answers) -> dict[str, Submission]:
    """Each untagged exercise's answer in these cells (in the order they ran), where it has one."""
    keys = [k for k in answers.untagged if k not in answers.defines]
    gradients = frozenset().union(*(answers.names[k] for k in keys))
    checked = frozenset().union(*(answers.names[k] for k in keys if k in answers.checked_by_call))
    found = program(cells, gradients, checked)
    answered: dict[str, Submission] = {}
    training = answers.in_training_loop
    loops = []
    if training and training in keys:
        loops = _training_loops(found, answers.names[training], answers.update_list)
        if loops and (answer := _training_answer(found, loops[-1], answers, training, gradients)):
            answered[training] = answer
    looping = {cell for cell, _, _ in loops}  # every training run is the training exercise's, the last its answer
    by_size = sorted((k for k in keys if k != training), key=lambda k: len(answers.names[k]))
    owned: dict[str, list[int]] = {}
    for cell in range(len(found.cells)):
        for owner in ([] if cell in looping else _owners(found, cell, by_size, answers, gradients)):
            owned.setdefault(owner, []).append(cell)
    for key, own in owned.items():
        answered[key] = _answer(found, key, own, answers, gradients)
    return answered


def _of_cell(found: Program, cell: int) -> list[int]:
    return [i for i, st in enumerate(found.statements) if st.cell == cell]


def _owners(found: Program, cell: int, keys: list[str], answers: Answers, gradients: frozenset[str]) -> list[str]:
    """The exercises whose work a cell is (`keys` smallest first, the last holding every gradient).
    An exercise's part of the cell is what its gradients there depend on; it fits where the other
    gradients that part reads are only its own and its givens. The cell is the work of the smallest
    exercise whose part is all its work; else of those smaller ones whose parts feed nothing else in
    it (exercise 2's answer and exercise 3's in one cell), and of the largest for the rest. A cell
    that only sets a given is that exercise's input; an untouched template's, no one's work."""
    mine = _of_cell(found, cell)
    worked = {name for i in mine if not found.statements[i].none_only
              for name in found.statements[i].writes & gradients}
    givens = set().union(*(answers.given.get(k, ()) for k in keys))
    if not worked or (worked <= givens and not _free_reads(found, mine, gradients)):
        return []
    if found.trees[cell] is None:  # read from its lines alone: the exercise whose gradients hold all it writes
        return [next(key for key in keys if worked <= set(answers.names[key]) | givens)]
    parts = {key: part for key in keys if (part := _part(found, mine, key, answers, gradients)) is not None}
    # What each part does: the gradients it writes, and the givens it sets (its input, not its work).
    done = {key: {n for i in part for n in found.statements[i].writes & gradients} | set(answers.given.get(key, ()))
            for key, part in parts.items()}
    whole = next((key for key in keys[:-1] if key in parts and worked <= done[key]), None)
    if whole:
        return [whole]
    apart = [key for key in keys[:-1] if key in parts and not _feeds(found, mine, parts[key], gradients)]
    covered = set().union(*(done[key] for key in apart))
    return apart if apart and worked <= covered else [*apart, keys[-1]]


# How many gradients of other exercises an exercise's part of a cell may compute on the way, as
# helpers (exercise 2's `dlogprobs`): a part that computes more is a stretch of exercise 1's chain.
_HELPERS = 2


def _part(found: Program, mine: list[int], key: str, answers: Answers, gradients: frozenset[str]) -> set[int] | None:
    """The statements of a cell (`mine`) that exercise `key`'s gradients there depend on, where the
    other gradients they read are only its own and its givens, and it writes few others; else None."""
    last = _last_writes(found.statements, mine, answers.names[key])
    if not last:
        return None
    part = backward_slice(found.statements, _at(last), answers.provided.get(key, frozenset())).kept & set(mine)
    allowed = set(answers.names[key]) | set(answers.given.get(key, ()))
    helpers = {n for i in part for n in found.statements[i].writes & gradients} - allowed
    return part if _free_reads(found, sorted(part), gradients) <= allowed and len(helpers) <= _HELPERS else None


def _free_reads(found: Program, statements: list[int], names: frozenset[str]) -> set[str]:
    """Which of `names` the statements read before they write them themselves."""
    written: set[str] = set()
    read: set[str] = set()
    for i in statements:
        read |= (found.statements[i].reads & names) - written
        written |= found.statements[i].writes & names
    return read


def _feeds(found: Program, mine: list[int], part: set[int], gradients: frozenset[str]) -> bool:
    """Does a gradient the part writes go on into other gradient work of the cell, after it?"""
    for j in mine:
        if j in part or not found.statements[j].writes & gradients:
            continue
        before = {n for i in part if i < j for n in found.statements[i].writes & gradients}
        if found.statements[j].reads & before:
            return True
    return False


def _last_writes(statements: list[Statement], among: Iterable[int], names: Iterable[str]) -> dict[str, int]:
    """Each of `names` that these statements write, by the last of them that writes it."""
    last: dict[str, int] = {}
    for i in among:
        last.update({name: i for name in statements[i].writes & set(names)})
    return last


def _at(last: Mapping[str, int]) -> dict[int, set[str]]:
    by_statement: dict[int, set[str]] = {}
    for name, i in last.items():
        by_statement.setdefault(i, set()).add(name)
    return by_statement


def _stops(found: Program, key: str, answers: Answers) -> tuple[frozenset[str], dict[str, str]]:
    """Where `key`'s answers' code stops: the names the grader provides, and the learner's names for
    them that differ only in case (`yb` for `Yb`, `w1` for `W1`), which are the grader's too."""
    provided = answers.provided.get(key, frozenset())
    by_case = {name.casefold(): name for name in provided if len(name) > 1}
    named = {name for st in found.statements for name in st.binds | st.reads}
    aliases = {name: by_case[name.casefold()] for name in named - provided if name.casefold() in by_case}
    return provided | frozenset(aliases), aliases


def _answer(found: Program, key: str, own: list[int], answers: Answers, gradients: frozenset[str]) -> Submission:
    """Exercise `key`'s answer: the last value its cells (`own`) leave for each of its gradients,
    with the code that value depends on."""
    names, given = answers.names[key], answers.given.get(key, ())
    mine = [i for i, st in enumerate(found.statements) if st.cell in own]
    last = _last_writes(found.statements, mine, names)
    provided, aliases = _stops(found, key, answers)
    kept = backward_slice(found.statements, _at(last), provided).kept
    setting = [(name, st) for i in mine if i not in kept and (st := found.statements[i]).node is not None
               for name in sorted(st.kills & set(given))]
    notes = [f"{name} is given: the grader supplies the true gradient, so {found.cells[st.cell].label} line "
             f"{st.lines[0]}, which sets it, is not part of your answer" for name, st in setting]
    supplied = "".join(f"; {name} supplied by the grader" for name in dict.fromkeys(name for name, _ in setting))
    missing = [name for name in names if name not in last]
    return _submission(found, key, answers, kept, own, set(mine), "found by what it computes" + supplied, notes,
                       _used(found.statements, kept, aliases), _misspelled(found, mine, missing, gradients))


def _used(statements: list[Statement], kept: set[int], aliases: Mapping[str, str]) -> dict[str, str]:
    """The aliases the kept statements read."""
    read = {name for i in kept for name in statements[i].reads}
    return {name: aliases[name] for name in sorted(read & set(aliases))}


def _submission(found: Program, key: str, answers: Answers, kept: set[int], own: list[int], mine: set[int], how: str,
                notes: list[str], aliases: Mapping[str, str], misspelled: Mapping[str, str] = {}) -> Submission:
    """The kept statements as `key`'s answer, found in the cells `own` (its own statements `mine`),
    after the learner's names for the grader's tensors (`aliases`) are bound to them."""
    where = ", ".join(found.cells[c].label for c in own if any(found.statements[i].cell == c for i in kept)) \
        or ", ".join(found.cells[c].label for c in own)
    named = _named_sizes(found, kept - mine, answers.sizes.get(key, {}), answers.provided.get(key, frozenset()))
    notes = notes + [f"{found.cells[found.statements[i].cell].label} line {found.statements[i].lines[-1]} sets "
                     f"{name}, your name for the size {size}: on the other instances it is theirs"
                     for i, (name, size) in named.items()]
    notes += [f"your {name} is the grader's {provided}" for name, provided in aliases.items()]
    file = found.cells[0].origin.rsplit(", ", 1)[0]
    bound = (Snippet("".join(f"{name} = {provided}\n" for name, provided in aliases.items()),
                     f"{file}, your names for the grader's tensors"),) if aliases else ()
    return Submission(bound + snippets(found, kept, {i: f"{name} = {size}" for i, (name, size) in named.items()}),
                      found=f"{where}, {how}", notes=tuple(notes), misspelled=misspelled)


def _named_sizes(found: Program, setup: set[int], sizes: Mapping[str, int],
                 provided: frozenset[str]) -> dict[int, tuple[str, str]]:
    """The learner's own names for the problem's sizes, set once in their setup (`BATCH_SIZE = 32`,
    as the lecture sets `batch_size = 32`): by statement, the name and the size it stands for, so that
    on another instance it is that instance's size, as it would be had the learner set that instance
    up. A number written in an answer itself stays a number."""
    by_value = {value: name for name, value in sizes.items() if list(sizes.values()).count(value) == 1}
    named = {}
    for i in setup:
        node = found.statements[i].node
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id not in provided and isinstance(node.value, ast.Constant)
                and type(node.value.value) is int and node.value.value in by_value):
            named[i] = (node.targets[0].id, by_value[node.value.value])
    return named


def _misspelled(found: Program, mine: list[int], missing: list[str], gradients: frozenset[str]) -> dict[str, str]:
    """Each missing gradient a name of the learner's own, written instead, looks like a misspelling of."""
    written = sorted({n for i in mine for n in found.statements[i].writes} - gradients)
    return {name: slip for name in missing for slip in written if misspelling(slip, name)}


# -- the training exercise: the backward pass inside the training loop ----------------------------------


def _training_loops(found: Program, names: tuple[str, ...], update_list: str | None
                    ) -> list[tuple[int, int, ast.For | ast.While]]:
    """(cell, statement, loop) of each training loop, in the order they ran: a loop whose body writes
    three of the training exercise's gradients or more, or its update list (the lecture's `grads`,
    from a function of the learner's, say)."""
    loops = []
    for i, statement in enumerate(found.statements):
        nodes = ast.walk(statement.node) if statement.node else ()
        for loop in (n for n in nodes if isinstance(n, (ast.For, ast.While))):
            written = set().union(*(written_names(st) for st in loop.body))
            if len(written & set(names)) >= 3 or update_list in written:
                loops.append((statement.cell, i, loop))
                break
    return loops


def _training_answer(found: Program, loop: tuple[int, int, ast.For | ast.While], answers: Answers, key: str,
                     gradients: frozenset[str]) -> Submission | None:
    """The backward part of the loop's body: what the loop's gradients (and update list) depend on, in the
    body, and, for the learner's own names (not gradients: those a step computes itself), in the
    statements that ran before the loop. None for a template left untouched."""
    cell, at, node = loop
    body = list(statements_of(cell, node.body, ()))
    writing = [st for st in body if st.writes & set(answers.names[key])]
    if writing and all(st.none_only for st in writing):
        return None
    before = found.statements[:at]
    provided, aliases = _stops(found, key, answers)
    last = _last_writes(body, range(len(body)), (*answers.names[key], *filter(None, [answers.update_list])))
    step = backward_slice(body, _at(last), provided)
    setup = backward_slice(before, {len(before) - 1: step.needed - gradients}, provided)
    kept = setup.kept | {len(before) + i for i in step.kept}
    notes = [f"{name} is read in the training loop but not computed in it: each step would use the value an "
             "earlier cell left, not its own gradient" for name in sorted(step.needed & gradients)]
    statements = before + body
    first = min((i for i in kept if i >= len(before)), default=len(statements))
    autograd = [i for i in range(len(before), len(statements)) if i not in kept and _calls_backward(statements[i])]
    if any(_updates_by_grad(statements[i]) for i in range(first, len(statements)) if i not in kept):
        kept |= set(autograd)  # autograd's gradients train the net: that is part of what is checked
    else:
        notes += [f"{found.cells[cell].label} line {statements[i].lines[0]} still calls .backward(): your own "
                  "gradients drive the update, so it is not part of your answer; delete it once they are right"
                  for i in autograd]
    view = Program(found.cells, statements, found.trees)
    return _submission(view, key, answers, kept, [cell], set(range(len(before), len(statements))),
                       "the training loop's backward pass, found by what it computes", notes,
                       _used(statements, kept, aliases))


def _calls_backward(statement: Statement) -> bool:
    return statement.node is not None and any(
        isinstance(n, ast.Attribute) and n.attr == "backward" for n in ast.walk(statement.node))


def _updates_by_grad(statement: Statement) -> bool:
    """Does it change a tensor in place with a value read from `.grad` (`p.data += -lr * p.grad`)?"""
    return statement.node is not None and any(
        (isinstance(n, ast.AugAssign) or (isinstance(n, ast.Assign)
                                          and not all(isinstance(t, ast.Name) for t in n.targets)))
        and any(isinstance(m, ast.Attribute) and m.attr == "grad" and isinstance(m.ctx, ast.Load)
                for m in ast.walk(n.value))
        for n in ast.walk(statement.node))


# -- answers that are definitions (a `Value` class) ----------------------------------------------------


def definitions(snippets: list[Snippet], names: tuple[str, ...]) -> tuple[Snippet, ...]:
    """An answer made of definitions: the last definition of one of `names` (in the order the
    snippets ran), with the definitions, classes and imports it needs, from its snippet or those
    before it; nothing else runs (a notebook's drawing and experiments stay out). What a definition
    needs as it is made (a base class: `class Value(Value)` building on the one before) is the binding
    before it; what its bodies read when they run (a helper function, `Value` itself) is the last one.
    An import of a module not installed here is left out: only what uses it fails. No snippet defines
    them: ()."""
    parsed = [(snippet, parse(snippet.source)) for snippet in snippets]
    last = next((i for i in reversed(range(len(parsed))) if _defines(*parsed[i], names)), None)
    if last is None:
        return ()
    if parsed[last][1] is None:  # taken whole, so that the check says where it breaks
        return (parsed[last][0],)
    items = [(i, st) for i, (_, tree) in enumerate(parsed[:last + 1]) if tree for st in tree.body
             if isinstance(st, (ast.ClassDef, ast.FunctionDef, ast.Import, ast.ImportFrom))]
    kept: set[int] = set()
    wanted = [(name, len(items)) for name in names]  # (a name, read before this item)
    while wanted:
        name, before = wanted.pop()
        at = next((k for k in reversed(range(before)) if name in bound_anew(items[k][1])), None)
        if at is None or at in kept:
            continue
        kept.add(at)
        made, run = _needs(items[at][1])
        wanted += [(n, at) for n in made] + [(n, len(items)) for n in run]
    lines: dict[int, dict[int, int]] = {}
    for k in sorted(kept):
        i, st = items[k]
        if _installed(st):
            lines.setdefault(i, {}).update({n: 0 for n in range(st.lineno, (st.end_lineno or st.lineno) + 1)})
    return tuple(Snippet(only(parsed[i][0].source, numbers), parsed[i][0].origin) for i, numbers in lines.items())


def _needs(statement: ast.stmt) -> tuple[set[str], set[str]]:
    """The names a definition reads as it is made (bases, decorators, defaults), and those its bodies
    read when they run."""
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return set(), set()
    assert isinstance(statement, (ast.ClassDef, ast.FunctionDef))
    heads: list[ast.expr] = list(statement.decorator_list)
    heads += statement.bases + [k.value for k in statement.keywords] if isinstance(statement, ast.ClassDef) \
        else statement.args.defaults + [d for d in statement.args.kw_defaults if d]
    made = {n.id for head in heads for n in ast.walk(head) if isinstance(n, ast.Name)}
    functions = [statement] if isinstance(statement, ast.FunctionDef) else \
        [st for st in statement.body if isinstance(st, ast.FunctionDef)]
    run = {name for function in functions for name, stored in names_in_order(function) if not stored}
    return made, run


def _installed(statement: ast.stmt) -> bool:
    """Is what an import statement imports there to import (where the code is checked, as here)?"""
    if not isinstance(statement, (ast.Import, ast.ImportFrom)):
        return True
    modules = [a.name for a in statement.names] if isinstance(statement, ast.Import) else [statement.module or ""]
    try:
        return all(not module or importlib.util.find_spec(module.split(".")[0]) is not None for module in modules)
    except (ImportError, ValueError):
        return False


def _defines(snippet: Snippet, tree: ast.Module | None, names: tuple[str, ...]) -> bool:
    """Does the snippet define one of `names` at its top level (read from its lines, if it does not parse)?"""
    if tree is None:
        return any(re.match(rf"(class|def)\s+{re.escape(name)}\b", line) for line in snippet.source.splitlines()
                   for name in names)
    return any(isinstance(st, (ast.ClassDef, ast.FunctionDef)) and st.name in names for st in tree.body)
