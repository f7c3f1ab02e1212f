"""Exercise packs: the exercises of one lecture of the series each. A pack is a `Pack` of
`engine.exercise.Exercise`s; the built-in ones are listed here, and a course ships its own as a
package that registers a `Pack` under the `backprop_ninja.packs` entry-point group.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the registry itself is torch-free: `ninja --help` imports it
    from ..engine.exercise import Exercise

GROUP = "backprop_ninja.packs"
# Where each built-in pack is defined ("module:attribute"), found even without installed metadata.
BUILT_IN = {"makemore4": "backprop_ninja.lecture.exercises:PACK", "bigram": "backprop_ninja.packs.bigram:PACK"}


class PackError(Exception):
    """A pack that cannot be loaded, or two packs that define the same exercise: a user error."""


@dataclass(frozen=True)
class Pack:
    name: str
    title: str  # the lecture it belongs to
    exercises: tuple[Exercise, ...]


def _load(name: str, target: str) -> Pack:
    module, _, attribute = target.partition(":")
    try:
        pack = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as e:
        raise PackError(f"pack {name!r} ({target}) cannot be loaded: {e}") from None
    if not isinstance(pack, Pack):
        raise PackError(f"pack {name!r} ({target}) is not a backprop_ninja Pack")
    return pack


@cache
def packs() -> dict[str, Pack]:
    """Every pack: the built-in ones, then those installed packages register."""
    targets = dict(BUILT_IN)
    targets.update({ep.name: ep.value for ep in entry_points(group=GROUP)})
    return {name: _load(name, target) for name, target in targets.items()}


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
