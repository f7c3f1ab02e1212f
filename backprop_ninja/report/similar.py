"""Answers shared across a class where shared answers are unlikely: groups of learners whose answers to
an exercise compute the same rare wrong values, or are written alike in code that is rare in the class
(once names, comments, spacing and the order of independent lines are set aside). It flags answers for
a person to review: it is never a grade, and no proof of copying.

Two kinds of evidence, from each learner's latest graded answer to the exercise:
- a mistake: a gradient whose own step is wrong, with the same maxdiff as another learner's on every
  instance (to 4 significant digits): the same wrong values, however they were written;
- a statement: one top-level statement's normal form (`engine/reading/normal.py`).

Each is weighed by its rarity: held by k of a class of N, it weighs log(N / k) nats for each pair
that holds it. What many hold is no evidence at all: held by more than a tenth of the class (more
than three learners in a class under 40, see `most_rare`), it weighs nothing, since common lines (the
lecture's solution, line by line) would otherwise add up to as much as a rare one, and a slip half the
class makes (a missing `+=`) says nothing of two of them. A pair is kept when its evidence is more than
the log of the number of pairs in the class: among that many pairs, coincidences up to that are to be
expected. So a rare mistake and the line that makes it, which mostly say the same thing twice, are not
enough alone: with one more rare thing in common (a helper line, another mistake), they are. Code
alike with no rare mistake in common needs MOST_BY_CHANCE + 1 rare statements at least: a right line
has only a few ways to be written, and in a class of independent learners two of them share a few
such lines by chance (as real learners' notebooks, graded, do).
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import combinations

from ..engine.results.gradebook import AnswerRow, Snapshot, WrongStep
from ..engine.results.records import WHOLE_SUBMISSION

# Held by more than this share of the class (see `most_rare`), what learners share is common: no evidence.
COMMON_SHARE = 0.1
# Rare statements two learners who share no rare mistake may have in common by chance.
MOST_BY_CHANCE = 5
_SIGNIFICANT_DIGITS = 4
_WHOLE_SUBMISSION = {kind.value for kind in WHOLE_SUBMISSION}  # every gradient fails, right values or not


@dataclass(frozen=True)
class SharedAnswers:
    """Learners whose answers to one exercise share what answers rarely share."""

    exercise: str
    learners: tuple[str, ...]
    gradients: tuple[str, ...]  # whose same wrong values they share, in backprop order
    statements: int  # rare statements written alike
    evidence: str  # all of it, in words
    strength: float  # the evidence of the strongest pair among them, in nats

    def to_dict(self) -> dict:
        return {"exercise": self.exercise, "learners": list(self.learners), "gradients": list(self.gradients),
                "evidence": self.evidence, "strength": round(self.strength, 2), "statements": self.statements}


@dataclass(frozen=True)
class _Mistake:
    gradient: str
    maxdiffs: tuple[float, ...]  # rounded, on each instance
    wrong_on: int


@dataclass(frozen=True)
class _Statement:
    normal_form: str


_Item = _Mistake | _Statement


def rarity(holders: int, class_size: int) -> float:
    """What one item held by `holders` of `class_size` learners weighs, in nats, for each pair of them:
    nothing where it is common."""
    if holders < 2 or holders > most_rare(class_size):
        return 0.0
    return math.log(class_size / holders)


def most_rare(class_size: int) -> int:
    """The most learners an item may be held by and still be rare: a tenth of the class, but three in a
    class of 12 to 39, so that three who share one source are seen there too (two in a smaller class)."""
    return max(2, min(3, class_size // 4), int(class_size * COMMON_SHARE))


def threshold(class_size: int) -> float:
    """The evidence a pair needs, in nats: the log of the number of pairs in the class."""
    return math.log(class_size * (class_size - 1) / 2) if class_size > 1 else math.inf


def similar_answers(snapshot: Snapshot) -> tuple[SharedAnswers, ...]:
    """The groups of learners whose latest answers to an exercise share rare evidence, strongest first
    (nothing where the snapshot was read without its answers)."""
    learner_of = {a.id: a.learner for a in snapshot.attempts}
    rank = {a.id: i for i, a in enumerate(snapshot.attempts)}  # each learner's attempts oldest first
    latest: dict[str, dict[str, AnswerRow]] = defaultdict(dict)
    for answer in sorted(snapshot.answers, key=lambda a: rank[a.attempt]):
        latest[answer.exercise][learner_of[answer.attempt]] = answer
    backprop: dict[str, dict[str, int]] = defaultdict(dict)
    for row in snapshot.gradients:  # each grade's gradients in backprop order
        backprop[row.exercise].setdefault(row.gradient, len(backprop[row.exercise]))
    groups = [group for exercise, answers in latest.items()
              for group in _groups(exercise, answers, backprop[exercise])]
    return tuple(sorted(groups, key=lambda g: (-g.strength, g.exercise, g.learners)))


def _mistakes(steps: Iterable[WrongStep]) -> Iterator[_Mistake]:
    """The wrong steps whose values can be told apart: a maxdiff on every instance, not all 0, and not
    a mistake of the whole submission (autograd used fails right values too)."""
    for step in steps:
        if step.kind in _WHOLE_SUBMISSION or None in step.maxdiffs or not any(step.maxdiffs):
            continue
        yield _Mistake(step.gradient, tuple(float(f"{d:.{_SIGNIFICANT_DIGITS}g}") for d in step.maxdiffs),
                       step.wrong_on)


def _groups(exercise: str, answers: dict[str, AnswerRow], backprop: dict[str, int]) -> list[SharedAnswers]:
    holders: dict[_Item, set[str]] = defaultdict(set)
    for learner, answer in answers.items():
        held: list[_Item] = [*_mistakes(answer.wrong_steps), *map(_Statement, answer.normal_form)]
        for item in held:
            holders[item].add(learner)
    class_size = len(answers)
    # Only learners graded with their code's normal form held (a version before it stored none) count for code.
    written = sum(bool(answer.normal_form) for answer in answers.values())
    weight = {item: rarity(len(who), written if isinstance(item, _Statement) else class_size)
              for item, who in holders.items()}
    shared: dict[tuple[str, str], list[_Item]] = defaultdict(list)
    for item, who in holders.items():
        if weight[item] > 0:
            for pair in combinations(sorted(who), 2):
                shared[pair].append(item)
    scores = {pair: sum(weight[item] for item in items) for pair, items in shared.items()}
    kept = {pair for pair, score in scores.items() if score > threshold(class_size) and (
        any(isinstance(item, _Mistake) for item in shared[pair]) or len(shared[pair]) > MOST_BY_CHANCE)}
    groups = []
    for members in _cliques(kept, scores):
        pairs = list(combinations(members, 2))
        items = {item for pair in pairs for item in shared[pair]}
        mistakes = sorted((i for i in items if isinstance(i, _Mistake)), key=lambda m: backprop.get(m.gradient, 0))
        statements = sum(isinstance(item, _Statement) for item in items)
        said = [f"the same wrong {m.gradient} on {_instances(m)} (shared by {len(holders[m])} of {class_size} "
                "learners)" for m in mistakes]
        if statements:
            said.append(f"{statements} rare statement{'s' * (statements > 1)} in common")
        groups.append(SharedAnswers(exercise, members, tuple(dict.fromkeys(m.gradient for m in mistakes)),
                                    statements, "; ".join(said), max(scores[pair] for pair in pairs)))
    return groups


def _instances(mistake: _Mistake) -> str:
    count = len(mistake.maxdiffs)
    return f"all {count} instances" if mistake.wrong_on == count else f"{mistake.wrong_on} of {count} instances"


def _cliques(kept: set[tuple[str, str]], scores: dict[tuple[str, str], float]) -> list[tuple[str, ...]]:
    """The kept pairs as groups in which every two learners are a kept pair (three who share one rare
    mistake are one group), each grown from the strongest pair no group holds yet."""
    groups: list[tuple[str, ...]] = []
    within: set[tuple[str, str]] = set()
    for pair in sorted(kept, key=lambda p: (-scores[p], p)):
        if pair in within:
            continue
        group = set(pair)
        others = sorted({learner for p in kept for learner in p} - group,
                        key=lambda o: (-sum(scores.get(_pair(o, m), 0.0) for m in pair), o))
        for other in others:
            if all(_pair(other, member) in kept for member in group):
                group.add(other)
        groups.append(tuple(sorted(group)))
        within |= set(combinations(groups[-1], 2))
    return groups


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)
