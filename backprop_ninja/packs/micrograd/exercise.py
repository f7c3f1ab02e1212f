"""The micrograd exercise: a learner's `Value` class, each op's `_backward` and `backward()` written by
hand, checked op by op against float64 autograd on the same expressions.

The learner's code only defines the class; the probes (`probes.py`) run after it, in the worker, and
send back numbers. The truth comes from the same probes built on tensors, here. An op the class does
not define is "not defined", not wrong, and no probe uses it.
"""
from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import ClassVar

import torch

from ...engine.exercises.compare import compare
from ...engine.exercises.exercise import Exercise, Gradient, Instance
from ...engine.judging.trials import Trial, Verdicts, truth
from ...engine.reading.cells import Snippet
from ...engine.results.records import (ERROR, FAIL, MISSING, NOT_DEFINED, PASS, Comparison, Diagnosis, Kind, RootCause,
                                       Status)
from . import probes
from .probes import PROBE_OPS, ProbeDraw, ProbeOp, probe_expressions, probe_ops
from .slips import backward_slip, op_slip
from .value import STUB

# The probes' own source, run after the learner's code under this name.
PROBES_ORIGIN = "<backprop-ninja probes>"
PROBES_SOURCE = Path(probes.__file__).read_text(encoding="utf-8")
# Random numbers an instance draws its probes' operands, gradients and weights from: more than they take.
NUMBERS = 256


@dataclass(frozen=True)
class ProbeInstance(Instance):
    """The probes' operands, gradients and MLP weights, drawn from `seed`; Python floats are float64."""

    seed: int
    dtype: torch.dtype = torch.float64
    # Hand-written float64 agrees with autograd to ~1e-15 on these expressions; finite differences do not.
    rtol: float = 1e-9
    atol: float = 1e-12

    @property
    def n(self) -> int:
        return len(probes.PROBE_XS)

    def named_sizes(self) -> dict[str, int]:
        return {"examples": self.n}

    def describe(self) -> str:
        return f"the probes' numbers from seed {self.seed}"

    def numbers(self) -> torch.Tensor:
        return torch.rand(NUMBERS, generator=torch.Generator().manual_seed(self.seed), dtype=torch.float64)


@cache
def _probes(instance: ProbeInstance) -> tuple[list[ProbeOp], list]:
    draw = ProbeDraw(instance.numbers())
    return probe_ops(draw), probe_expressions(draw)


def _leaves(values: tuple[float, ...]) -> list[torch.Tensor]:
    return [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in values]


def _grads(leaves: list[torch.Tensor]) -> list[float]:
    return [0.0 if leaf.grad is None else leaf.grad.item() for leaf in leaves]


def _structure(values: Mapping[str, object]) -> list[int] | None:
    """The recorded run of one backward() (see `probes._probe_structure`), if it is one: five counts."""
    run = values.get("backward_structure")
    if isinstance(run, torch.Tensor) and run.dtype == torch.int64 and run.shape == (5,):
        return [int(x) for x in run.tolist()]
    return None


def _asked(values: Mapping[str, object], expressions: list) -> torch.Tensor | None:
    """Which entries of the backward row the worker asked (the expressions it could build from ops
    that work alone), if its answer is one: a flag per expression."""
    asked = values.get("backward_asked")
    if not (isinstance(asked, torch.Tensor) and asked.dtype == torch.bool and asked.shape == (len(expressions),)):
        return None
    return torch.tensor([bool(flag) for flag, (_, _, _, inputs) in zip(asked.tolist(), expressions) for _ in inputs],
                        dtype=torch.bool)


def _constant(x: float) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


@dataclass(frozen=True)
class MicrogradExercise(Exercise[ProbeInstance]):
    DEFINES: ClassVar[bool] = True
    FILL_NOTE: ClassVar[str] = (
        "Write each op's _backward where it says TODO, and backward(). Keep the class named Value; an op you "
        "delete is 'not defined', not wrong.")

    @property
    def written(self) -> tuple[str, ...]:
        return ("Value",)

    @property
    def collected(self) -> tuple[str, ...]:
        return (*self.names, "backward_structure", "backward_asked", "backward_unbuilt", "grad_name")

    def remarks(self, values: Mapping[str, object]) -> tuple[str, ...]:
        grad, unbuilt = values.get("grad_name"), values.get("backward_unbuilt")
        said = []
        if isinstance(grad, str) and grad != "grad" and grad.isidentifier():
            said.append(f"your Value keeps its gradient in {grad[:40]}, not grad as the lecture's does: the check "
                        "reads and sets that")
        if isinstance(unbuilt, str) and unbuilt:
            said.append("not asked of backward(), since your Value could not build it: " + unbuilt[:1000])
        return tuple(said)

    def program(self, snippets: tuple[Snippet, ...]) -> tuple[Snippet, ...]:
        return (*snippets, Snippet(f"{PROBES_SOURCE}\nprobe_worker(globals(), {PROBES_ORIGIN!r})\n", PROBES_ORIGIN))

    def briefing(self) -> str:
        return textwrap.fill(
            "Your file (or the notebook cell that defines Value) is run on its own: its class Value, the "
            "functions and classes it uses, and the imports they need; nothing else of it. Each op keeps "
            "its forward part as given. The check calls each op's _backward alone, on Values that already hold "
            "a gradient (an op built from other ops, through theirs), then backward() on whole expressions "
            "made of the ops that work, numbers in them made Values; an op or backward() you leave out is "
            "'not defined', not wrong.", width=88)

    def template(self) -> str:
        return STUB

    def namespace(self, instance: ProbeInstance) -> dict[str, object]:
        return {"probe_numbers": instance.numbers()}

    def truth(self, instance: ProbeInstance) -> dict[str, torch.Tensor]:
        """Each op's probes and every expression, on float64 tensors, by autograd."""
        ops, expressions = _probes(instance)
        rows: dict[str, list[float]] = {op: [] for op in PROBE_OPS}
        for probe in ops:
            leaves = _leaves(probe.operands)
            # The upstream gradient as a factor, not backward's argument: the same numbers (1 * g is g),
            # without the second of import (sympy's) that a gradient argument costs torch's first call.
            (probe.apply(leaves) * probe.upstream).backward()
            rows[probe.op] += [prior + grad for prior, grad in zip(probe.priors, _grads(leaves))]
        backward: list[float] = []
        for _, _, build, inputs in expressions:
            leaves = _leaves(inputs)
            build(_constant, *leaves).backward()
            backward += _grads(leaves)
        return {**{op: torch.tensor(grads, dtype=torch.float64) for op, grads in rows.items()},
                "backward": torch.tensor(backward, dtype=torch.float64)}

    def compare(self, instance: ProbeInstance, values: Mapping[str, object], truth: Mapping[str, torch.Tensor],
                names: tuple[str, ...]) -> dict[str, Comparison]:
        return {name: self._compare(instance, name, values, truth[name]) for name in names}

    def _compare(self, instance: ProbeInstance, name: str, values: Mapping[str, object],
                 truth: torch.Tensor) -> Comparison:
        value = values.get(name)
        if isinstance(value, str) and value == "not defined":
            return Comparison(NOT_DEFINED, tuple(truth.shape), note="not defined by your Value, so not graded")
        if name == "backward" and isinstance(value, torch.Tensor):
            asked = _asked(values, _probes(instance)[1])
            if asked is None:
                return Comparison(ERROR, tuple(truth.shape), note="the probes' record of backward() is not one")
            if not asked.any():  # nothing to judge it on: not graded, as what the class lacks is not
                return Comparison(NOT_DEFINED, (0,), note="not judged: every expression needs an op that fails alone")
            truth = truth[asked]
        shape = tuple(truth.shape)
        if isinstance(value, str):  # what the probes say of the learner's class, from its worker: read as text only
            status = MISSING if value.startswith("missing: ") else ERROR
            return Comparison(status, shape, note=value.removeprefix("missing: ")[:500])
        structure = _structure(values)
        if (name == "backward" and structure and structure[0] == 0 and isinstance(value, torch.Tensor)
                and not value.any()):
            return Comparison(MISSING, shape, note="not computed: backward() runs no node's _backward")
        if name in PROBE_OPS and isinstance(value, torch.Tensor) and torch.equal(value, self._priors(instance, name)):
            return Comparison(MISSING, shape, note=f"not computed: {name}'s _backward leaves every gradient as it was")
        return compare(value, truth, instance.rtol, instance.atol)

    @staticmethod
    def _priors(instance: ProbeInstance, op: str) -> torch.Tensor:
        return torch.tensor([x for p in _probes(instance)[0] if p.op == op for x in p.priors], dtype=torch.float64)

    def diagnose(self, plain: Trial) -> Verdicts:
        """Each op is probed alone, from right inputs, so its verdict is already its own step's; a wrong
        one is matched with the known slips. backward() is judged by how it ran the steps, recorded."""
        verdicts: dict[str, tuple[Status | None, Diagnosis | None]] = {}
        first_wrong: str | None = None
        for g in self.gradients:
            status = plain.status(g.name)
            diagnosis = self._diagnosis(plain, g.name) if status == FAIL else None
            if g.name == "backward":
                structure = _structure(plain.lecture_run.values)
                own = backward_slip(structure) if structure else None
                if own:
                    status, diagnosis = FAIL, own
                elif status == FAIL and first_wrong and plain.on_lecture(g.name).status != ERROR:
                    # Its own step ran as it should: the wrong op's error is what reaches the expressions.
                    status, diagnosis = PASS, Diagnosis(Kind.INHERITED, f"inherits the error in {first_wrong}")
            if status == FAIL:
                first_wrong = first_wrong or g.name
            verdicts[g.name] = (status, diagnosis)
        if first_wrong is None:
            return verdicts, None
        step = next(g for g in self.gradients if g.name == first_wrong)
        diagnosis = verdicts[first_wrong][1]
        assert diagnosis is not None  # every failing row is diagnosed
        return verdicts, RootCause(first_wrong, diagnosis, step.hint, graded=True)

    def _diagnosis(self, plain: Trial, name: str) -> Diagnosis:
        """Why row `name` fails, on the first instance it fails on."""
        index = next(i for i, c in enumerate(plain.comparisons[name]) if c.status != PASS)
        comparison, instance = plain.comparisons[name][index], plain.instances[index]
        value = plain.runs[index].values.get(name)
        if comparison.status == ERROR or not isinstance(value, torch.Tensor) or comparison.maxdiff is None:
            return Diagnosis(Kind.RAISED if comparison.note.startswith("raised") else Kind.LOCAL, comparison.note)
        if name == "backward":
            return Diagnosis(Kind.LOCAL, "every op is right alone and backward() runs them in a right order, yet whole "
                             f"expressions come out wrong (maxdiff {comparison.maxdiff:.2g}): look at the ops built "
                             "from them (__neg__, __sub__, __truediv__, __radd__, __rmul__)")
        assert isinstance(instance, ProbeInstance)
        right = truth(self, instance)[name]
        op_probes = [p for p in _probes(instance)[0] if p.op == name]
        return op_slip(name, op_probes, value, right,
                       lambda a, b: a.shape == b.shape and torch.allclose(a, b, rtol=1e-7, atol=1e-9))


MICROGRAD = MicrogradExercise(
    key="micrograd",
    title="micrograd: the backward pass of every op of a Value class",
    task=("The micrograd lecture builds Value, a scalar that remembers how it was made, and backpropagates "
          "through any expression of Values. Write what it does by hand: each op's _backward, which adds the "
          "op's part of out.grad to the gradients of its inputs, and backward(), which runs them all, in "
          "order, from the output. The check builds expressions with your Value (each op alone, reused "
          "operands, the lecture's neuron and an MLP(3, [4, 4, 1])) and the same ones with PyTorch's "
          "autograd, in float64."),
    gradients=(
        Gradient("__add__", "out = self + other hands out.grad on unchanged: each input gets 1.0 * out.grad, "
                 "added (+=) to what it holds already, since a Value may be used more than once."),
        Gradient("__mul__", "each input's gradient is the other input's data times out.grad, added with +=."),
        Gradient("__pow__", "the power rule: other * self.data**(other - 1), times out.grad."),
        Gradient("tanh", "d tanh(x)/dx = 1 - tanh(x)**2: use the output t you computed, times out.grad."),
        Gradient("exp", "d exp(x)/dx = exp(x), which is out.data, times out.grad; add it with += (the lecture's "
                 "own slip was =)."),
        Gradient("relu", "the gradient passes where the output is positive and is 0 elsewhere: "
                 "(out.data > 0) * out.grad."),
        Gradient("backward", "order the nodes so that each comes after all the nodes it is made from (a "
                 "topological sort from self through _prev), set self.grad = 1.0, then run each node's "
                 "_backward in the reverse of that order."),
    ),
    instances=(ProbeInstance("lecture", 0), ProbeInstance("seed 1", 1), ProbeInstance("seed 2", 2),
               ProbeInstance("seed 3", 3)),
)
