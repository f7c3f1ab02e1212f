"""What a wrong op or backward() of a learner's `Value` looks like: each op's local derivatives as
they are right and as the known slips write them, and the verdict on a recorded backward().

A slip is recognised by predicting what a `_backward` written that way gives on the very probes the
learner's ran (`ProbeOp`), and finding the learner's numbers among the predictions.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ...engine.results.records import Diagnosis, Kind, PackKind
from .probes import ProbeOp

# The pack's own kinds of mistake, beside the engine's.
SWAPPED = PackKind("swapped")  # two operands' gradients, each given the other's
ORDER = PackKind("order")  # a backward() that runs the nodes' steps out of order, twice, or not at all
SEED = PackKind("seed")  # a backward() that does not start from a gradient of 1

# An op's local derivatives, one per operand, from the operands x and y, the output o and the exponent k.
Local = Callable[[float, float, float, float], tuple[float, ...]]

RIGHT: dict[str, Local] = {
    "__add__": lambda x, y, o, k: (1.0, 1.0),
    "__mul__": lambda x, y, o, k: (y, x),
    "__pow__": lambda x, y, o, k: (k * x ** (k - 1),),
    "tanh": lambda x, y, o, k: (1 - o**2,),
    "exp": lambda x, y, o, k: (o,),
    "relu": lambda x, y, o, k: (float(o > 0),),
}

# Each op's known slips: (local derivatives as the slip writes them, kind, what is wrong).
SLIPS: dict[str, tuple[tuple[Local, Kind | PackKind, str], ...]] = {
    "__mul__": ((lambda x, y, o, k: (x, y), SWAPPED,
                 "each operand gets its own data times out.grad: the two are swapped (self.grad takes "
                 "other.data * out.grad, and other.grad takes self.data * out.grad)"),),
    "__pow__": ((lambda x, y, o, k: (k * x**k,), Kind.LOCAL,
                 "the power rule's exponent: d(x**k)/dx is k * x**(k - 1), and the - 1 is missing"),
                (lambda x, y, o, k: (x ** (k - 1),), Kind.LOCAL,
                 "the power rule's factor: d(x**k)/dx is k * x**(k - 1), and the k in front is missing")),
    "tanh": ((lambda x, y, o, k: (1 - x**2,), Kind.LOCAL,
              "tanh's derivative from its input: it is 1 - t**2 with t the output (t, or out.data), "
              "not 1 - x**2 with x = self.data"),),
    "exp": ((lambda x, y, o, k: (x,), Kind.LOCAL,
             "exp's derivative is exp(x) itself, the output out.data, not the input self.data"),),
}


def _output(probe: ProbeOp) -> float:
    return probe.apply([torch.tensor(x, dtype=torch.float64) for x in probe.operands]).item()


def predict(probe: ProbeOp, local: Local, accumulate: bool = True, upstream: bool = True) -> list[float]:
    """What a `_backward` with these local derivatives leaves in the operands' gradients: added to
    what they held (`+=`) or in its place (`=`), times out.grad or without it."""
    d = local(probe.operands[0], probe.operands[-1], _output(probe), probe.exponent)
    g = probe.upstream if upstream else 1.0
    if len(probe.operands) == 1 and len(d) == 2:  # one operand used twice: the second write is the last
        return [probe.priors[0] + d[0] * g + d[1] * g if accumulate else d[1] * g]
    return [prior + di * g if accumulate else di * g for prior, di in zip(probe.priors, d)]


def _predicted(probes: Sequence[ProbeOp], local: Local, **how: bool) -> torch.Tensor:
    return torch.tensor([x for p in probes for x in predict(p, local, **how)], dtype=torch.float64)


def op_slip(op: str, probes: Sequence[ProbeOp], value: torch.Tensor, truth: torch.Tensor,
            close: Callable[[torch.Tensor, torch.Tensor], bool]) -> Diagnosis:
    """The slip in `op`'s `_backward` that gives `value` on `probes` (the op's own, in order)."""
    right = RIGHT[op]
    if close(value, _predicted(probes, right, accumulate=False)):
        return Diagnosis(Kind.MISSING_BRANCH, f"{op}'s _backward assigns the gradients (=) where it must add to them "
                         "(+=): what a Value already holds from its other uses is lost, and a Value used twice "
                         "(a + a, a * a) keeps only one of its two contributions")
    if close(value, _predicted(probes, right, upstream=False)):
        return Diagnosis(Kind.LOCAL, f"{op}'s _backward adds the local derivative alone, without the upstream "
                         "gradient out.grad: the chain rule multiplies the two")
    for local, kind, what in SLIPS.get(op, ()):
        if close(value, _predicted(probes, local)):
            return Diagnosis(kind, what)
    priors = torch.tensor([x for p in probes for x in p.priors], dtype=torch.float64)
    if close(value, 2 * priors - truth):
        return Diagnosis(Kind.SIGN, f"{op}'s _backward subtracts its part of the gradient: check the sign (+=)")
    maxdiff = (value - truth).abs().max().item()
    return Diagnosis(Kind.LOCAL, f"{op}'s _backward is wrong from right inputs (maxdiff {maxdiff:.2g}): look at its "
                     "local derivative, times out.grad, added with +=")


def backward_slip(structure: Sequence[int]) -> Diagnosis | None:
    """What is wrong with the way backward() ran the nodes' steps, as recorded on a whole MLP: calls,
    seeded with 1, inner nodes run before a node they feed, run again, never run. None if nothing."""
    calls, seeded, early, again, never = structure
    if calls == 0:
        return None
    if not seeded:
        return Diagnosis(SEED, "backward() does not start from self.grad = 1.0: the output's gradient with "
                         "respect to itself is 1, and every other gradient is built from it")
    if early:
        return Diagnosis(ORDER, f"backward() runs the _backward of {early} node(s) before that of every node "
                         "they feed, so they pass on a gradient that is not complete yet: order the nodes "
                         "topologically from the output, then go through them reversed")
    if again:
        return Diagnosis(ORDER, f"backward() runs some node's _backward more than once ({again} extra call(s)), "
                         "adding its part again: visit each node once (a visited set)")
    if never:
        return Diagnosis(ORDER, f"backward() never runs the _backward of {never} node(s): every node reached "
                         "from the output through _prev needs its turn")
    return None
