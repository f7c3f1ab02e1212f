"""The registry of exercise packs: the exercises of one lecture of the series each. A pack is a
`Pack` of `Exercise`s; the built-in ones (in `backprop_ninja.packs`) are listed here by where they
are defined, and a course ships its own as a package that registers a `Pack` under the
`backprop_ninja.packs` entry-point group. Packs are imported by name, when first asked for.
"""
from __future__ import annotations

import importlib
import runpy
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

from ..reading.answers import Answers
from .errors import PackError

if TYPE_CHECKING:  # the registry itself is torch-free: `ninja --help` imports it
    from .exercise import Exercise

GROUP = "backprop_ninja.packs"
# Where each built-in pack is defined ("module:attribute"), found even without installed metadata.
BUILT_IN = {"makemore4": "backprop_ninja.packs.makemore4.exercises:PACK", "bigram": "backprop_ninja.packs.bigram:PACK",
            "mlp": "backprop_ninja.packs.mlp:PACK", "micrograd": "backprop_ninja.packs.micrograd.pack:PACK"}


@dataclass(frozen=True)
class Mistake:
    """A known-wrong solution to one of a pack's exercises, and the diagnosis it must get."""

    exercise: str
    name: str
    source: str
    root_cause: str
    kind: str
    says: str = ""  # words the root cause's message must contain, where the pack declares them


@dataclass(frozen=True)
class Pack:
    name: str
    title: str  # the lecture it belongs to
    exercises: tuple[Exercise, ...]
    # Are its answers found in notebooks written the lecture's way, untagged, by what they assign
    # (its exercises' gradients then name theirs apart), and is one of them inside the training loop?
    found_by_writes: bool = False
    in_training_loop: str | None = None
    # The list that loop's update pairs with the parameters by position (the lecture's `grads`): a
    # file or loop that writes it answers the training exercise.
    update_list: str | None = None
    # Does its lecture check each gradient with a call `cmp('t', value, t)`? Such a call in a notebook
    # then answers dt with value, as the learner's own names or a value computed in the call.
    checked_by_call: bool = False
    # Each exercise's reference solution, by key, and known-wrong ones: what `ninja check-exercise`
    # holds the pack to. A pack file (the instructor's, not installed) may hold them itself; an
    # installed pack names `reference_files` instead, which `with_references` reads.
    references: Mapping[str, str] = field(default_factory=dict)
    mistakes: tuple[Mistake, ...] = ()
    reference_files: ReferenceFiles | None = None


@dataclass(frozen=True)
class ReferenceFiles:
    """Where a pack's worked solutions are when the pack does not hold them: an installed pack is
    imported by the worker that runs learners' code, and is on every learner's machine, so its
    answers stay out of it (the built-in packs': the repository's reference/ folder, not installed).
    In `folder`, by exercise key: the answer a learner would hand in, and a Python file whose
    MISTAKES, (name, the answer's text, the mistaken text, root cause, kind[, words the root cause's
    message says]), edit it into known-wrong ones: each answer's text is in the answer exactly once."""

    folder: Path
    answers: Mapping[str, str]
    mistakes: Mapping[str, str] = field(default_factory=dict)


def with_references(pack: Pack) -> Pack:
    """`pack` with the reference and known-wrong solutions its `reference_files` name read in, beside
    those it holds itself. Raises PackError where they are not there (the package installed without
    them) or a file of mistakes cannot be run."""
    files = pack.reference_files
    if files is None:
        return pack
    needed = [files.folder / name for name in (*files.answers.values(), *files.mistakes.values())]
    absent = [path for path in needed if not path.is_file()]
    if absent:
        raise PackError(f"pack {pack.name!r}: its worked solutions are not installed ({', '.join(map(str, absent))} "
                        "not found). They are kept out of the package, off learners' machines and out of reach of "
                        "the code being checked: check the pack in a checkout of its repository, installed from "
                        "there (pip install -e .).")
    answers = {key: (files.folder / name).read_text(encoding="utf-8") for key, name in files.answers.items()}
    mistakes = []
    for key, name in files.mistakes.items():
        path = files.folder / name
        try:
            declared = runpy.run_path(str(path))["MISTAKES"]
        except Exception as e:  # the pack author's own file: whatever it raises, say where
            raise PackError(f"{path}: cannot be loaded ({type(e).__name__}: {e})") from None
        for label, right, wrong, *diagnosis in declared:
            if answers[key].count(right) != 1:
                raise PackError(f"{path}: mistake {label!r} edits {right!r}, which {files.answers[key]} holds "
                                f"{answers[key].count(right)} times, not once")
            mistakes.append(Mistake(key, label, answers[key].replace(right, wrong), *diagnosis))
    return replace(pack, references={**pack.references, **answers}, mistakes=(*pack.mistakes, *mistakes),
                   reference_files=None)


def _load(name: str, target: str) -> Pack:
    module, _, attribute = target.partition(":")
    try:
        pack = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as e:
        raise PackError(f"pack {name!r} ({target}) cannot be loaded: {e}") from None
    if not isinstance(pack, Pack):
        raise PackError(f"pack {name!r} ({target}) is not a backprop_ninja Pack")
    return pack


# The source of each pack read from a file, by its exercises' keys: a worker that trains one of them
# (and finds it among no installed packs) is sent the source to load it from.
_FROM_FILES: dict[str, tuple[str, str]] = {}


def load_file(path: Path) -> Pack:
    """The pack a Python file defines as PACK, used as it is, without installing anything."""
    if not path.is_file() or path.suffix != ".py":
        raise PackError(f"{path}: expected a .py file that defines PACK")
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PackError(f"{path}: cannot be read ({e})") from None
    pack = load_source(source, str(path))
    _FROM_FILES.update({exercise.key: (source, str(path)) for exercise in pack.exercises})
    return pack


def load_source(source: str, origin: str) -> Pack:
    """The pack that `source` (a pack file's text, from `origin`) defines as PACK."""
    module = types.ModuleType(f"backprop_ninja_pack_{Path(origin).stem}")
    module.__file__ = origin
    sys.modules[module.__name__] = module  # dataclasses look their module up there
    try:
        exec(compile(source, origin, "exec"), module.__dict__)
    except Exception as e:  # the instructor's own code: whatever it raises, say where
        raise PackError(f"{origin}: cannot be loaded ({type(e).__name__}: {e})") from None
    pack = getattr(module, "PACK", None)
    if not isinstance(pack, Pack):
        raise PackError(f"{origin}: defines no PACK, a backprop_ninja.engine.exercises.registry.Pack")
    return pack


# Where a worker finds the pack of an exercise it trains: an installed pack's name, or the source and
# origin of the pack file it was read from.
PackPlace = str | tuple[str, str]


def place_of(key: str) -> PackPlace:
    """Where the pack of exercise `key` is, for a worker to load it, and only it."""
    if key in _FROM_FILES:
        return _FROM_FILES[key]
    return next(name for name, pack in packs().items() if any(e.key == key for e in pack.exercises))


def load_place(place: PackPlace) -> Pack:
    """The pack at `place` (see `place_of`), loaded alone."""
    return load_source(*place) if isinstance(place, tuple) else pack_named(place)


@cache
def _targets() -> dict[str, str]:
    """Every pack's "module:attribute": the built-in ones, then those installed packages register."""
    return {**BUILT_IN, **{ep.name: ep.value for ep in entry_points(group=GROUP)}}


@cache
def pack_named(name: str) -> Pack:
    if name not in _targets():
        raise PackError(f"no pack named {name!r}")
    return _load(name, _targets()[name])


@cache
def packs() -> dict[str, Pack]:
    """Every pack: the built-in ones, then those installed packages register."""
    return {name: pack_named(name) for name in _targets()}


@cache
def exercises() -> dict[str, Exercise]:
    """Every pack's exercises by key, pack by pack."""
    found: dict[str, Exercise] = {}
    for pack in packs().values():
        for exercise in pack.exercises:
            if exercise.key in found:
                raise PackError(f"two packs define an exercise {exercise.key!r}: rename one")
            found[exercise.key] = exercise
    return found


@cache
def answers() -> Answers:
    """How each exercise's answer is found in a submission: by its tag or a `.py` file's name for
    all; by what it computes for the packs whose notebooks are written the lecture's way."""
    untagged = [e for p in packs().values() if p.found_by_writes for e in p.exercises]
    training = next((p for p in packs().values() if p.found_by_writes and p.in_training_loop), None)
    return Answers(names={key: exercise.written for key, exercise in exercises().items()},
                   untagged=tuple(e.key for e in untagged),
                   in_training_loop=training.in_training_loop if training else None,
                   update_list=training.update_list if training else None,
                   checked_by_call=tuple(e.key for p in packs().values() if p.found_by_writes and p.checked_by_call
                                         for e in p.exercises),
                   defines=tuple(key for key, exercise in exercises().items() if exercise.DEFINES),
                   provided={e.key: e.provided for e in untagged if not e.DEFINES},
                   given={e.key: e.givens for e in untagged},
                   sizes={e.key: e.lecture.named_sizes() for e in untagged if not e.DEFINES})
