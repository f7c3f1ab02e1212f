"""An exercise as the engine sees it: what it asks (its gradients in backprop order, with hints;
where it is checked) and the problem it asks about (its instances, the namespace the learner's code
runs in, the truth). Most exercises are about a forward pass of tensors (`ForwardExercise`): a pack
says how an instance becomes leaves and data (`setting`), and the namespace, the truth and the
branch structure the diagnosis follows all derive from that and the forward pass. Others (micrograd's
`Value` class) say what they run and how they are judged themselves, through the hooks of `Exercise`
(and, to diagnose themselves, `trials.DiagnosesItself`).
"""
from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import torch
import torch.nn.functional as F

from ..reading.cells import Snippet
from ..results.records import Comparison, Diagnosis
from .compare import compare
from .forward import ForwardPass, autograd_gradients, branch_gradients
from .training import TrainingStage

# An instance's leaves (the tensors gradients are taken for) and data (all else the forward pass reads).
Setting = tuple[dict[str, torch.Tensor], dict[str, object]]


@dataclass(frozen=True)
class Instance:
    """One concrete setting of a problem, which a pack extends with its sizes (a frozen dataclass too:
    truths are cached by instance): a label ("lecture" for the first, the one shown as `cmp` shows
    it), the seed its tensors are drawn from, their precision, and the tolerance that fits it
    (torch.allclose's by default, the lecture's `cmp`'s)."""

    label: str
    seed: int = 0
    dtype: torch.dtype = torch.float32
    rtol: float = 1e-5
    atol: float = 1e-8

    @property
    def n(self) -> int:
        """Examples in a batch: what a mean divides by, and what a factor n, 1/n or n/(n-1) is named by."""
        raise NotImplementedError

    def named_sizes(self) -> dict[str, int]:
        """The sizes a learner might write as numbers, by the names they should use instead; the
        first is what the problem calls `n`."""
        return {"n": self.n}

    def named_factors(self) -> dict[str, float]:
        """Factors of the problem's own (attention's `head_size**-0.5`), by name: a gradient off by one
        of them, or by its inverse, is said to be off by it by that name."""
        return {}

    def describe(self) -> str:
        """The instance in words, as a failing check names it."""
        return f"seed={self.seed}, {self.precision}"

    @property
    def precision(self) -> str:
        return str(self.dtype).removeprefix("torch.")


# A pack's own classifier of a wrong step: the diagnosis's `Evidence` (of `judging`, which this room does
# not import) to a Diagnosis of the kind it recognises, or None.
Classifier = Callable[[Any], Diagnosis | None]


@dataclass(frozen=True)
class Gradient:
    """One gradient the learner writes: `name` is "d" + the tensor it belongs to."""

    name: str
    hint: str
    # For the gradient of a table indexed by a batch (dC, C[Xb]): the name of the index.
    indexed_by: str | None = None
    # For a gradient that is zero in exact arithmetic, a sum over the batch of this other gradient
    # (db1 of dhprebn: batchnorm cancels b1): in float32 it is that sum's rounding, which allclose's
    # absolute 1e-8 cannot judge, and right answers summed in another order may miss it.
    rounding_of: str | None = None

    @property
    def tensor(self) -> str:
        return self.name[1:]


def _copies(values: Mapping[str, object]) -> dict[str, object]:
    """Plain copies, with no autograd history, so that nothing a learner's code does reaches ours."""
    return {k: v.detach().clone() if isinstance(v, torch.Tensor) else v for k, v in values.items()}


I = TypeVar("I", bound=Instance)


@dataclass(frozen=True)
class Exercise(Generic[I]):
    """An exercise: what it asks for (its gradients, in backprop order, each a row of the result) and
    where it is checked (its instances, the first of which is the lecture's own). Subclasses say what
    the learner's code runs in and what the truth is; the hooks below have the defaults that fit
    gradients written as variables."""

    key: str
    title: str
    task: str
    gradients: tuple[Gradient, ...]
    instances: tuple[I, ...]

    # The training stage the exercise ends with, if any: the learner's gradients then drive its run
    # next to autograd's twin, and `ninja train` runs it whole.
    training: ClassVar[TrainingStage | None] = None
    # The hint for answers the code gives twice, differently (see `disagreements`).
    DISAGREEMENT_HINT: ClassVar[str] = ""
    # Are answers found in a notebook by the classes and functions they define (micrograd's Value),
    # and made of those definitions alone, rather than by the gradients they assign?
    DEFINES: ClassVar[bool] = False
    # What the stub asks of the learner, before saying how to check.
    FILL_NOTE: ClassVar[str] = ("Replace each None with your gradient (as many lines as you need; a name left "
                                "as None is 'not computed yet').")

    def namespace(self, instance: I) -> dict[str, object]:
        """What the learner's code runs in on `instance`: never the gradients it is asked for."""
        raise NotImplementedError

    def truth(self, instance: I) -> dict[str, torch.Tensor]:
        """Autograd's gradients for every followed gradient, graded or not."""
        raise NotImplementedError

    def briefing(self) -> str:
        """What the learner's code is given and asked, in words, for the stubs."""
        raise NotImplementedError

    def template(self) -> str:
        """The stub's answer part, as `ninja init` writes it: untouched, every gradient is missing."""
        raise NotImplementedError

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.gradients)

    @property
    def lecture(self) -> I:
        """The lecture's own instance: the one shown as `cmp` shows it, with the lecture's tolerance."""
        return self.instances[0]

    def time_limit(self, steps: int) -> float:
        """Seconds the learner's code may run in all, in one check of `steps` training steps."""
        return 60.0 + (self.training.seconds_per_step * steps if self.training else 0.0)

    @property
    def followed(self) -> tuple[Gradient, ...]:
        """Every gradient the diagnosis follows, graded or not, in backprop order."""
        return self.gradients

    @property
    def written(self) -> tuple[str, ...]:
        """The names an answer assigns (or, where `DEFINES`, defines): how it is found in a notebook."""
        return tuple(g.name for g in self.followed)

    @property
    def collected(self) -> tuple[str, ...]:
        """The names read back from the learner's namespace after their code has run."""
        return self.names

    @property
    def givens(self) -> tuple[str, ...]:
        """True gradients handed to the learner's code as input, whatever it sets them to itself."""
        return ()

    @property
    def provided(self) -> frozenset[str]:
        """The names the learner's code is given: an answer found by what it computes is the code
        its values depend on, down to these."""
        return frozenset(self.namespace(self.lecture))

    def program(self, snippets: tuple[Snippet, ...]) -> tuple[Snippet, ...]:
        """What runs in the worker: the learner's snippets, and any code of the exercise's own after them."""
        return snippets

    def gradients_from(self, values: dict[str, object]) -> dict[str, object]:
        """The gradients, by name, out of the values collected from the learner's namespace."""
        return values

    def compare(self, instance: I, values: Mapping[str, object], truth: Mapping[str, torch.Tensor],
                names: tuple[str, ...]) -> dict[str, Comparison]:
        """Each of `names` in `values` against the truth, within the instance's tolerance (and, for a
        gradient that is only rounding, the precision's noise)."""
        rounding = {g.name: _rounding(instance, truth[g.rounding_of]) for g in self.gradients if g.rounding_of}
        return {name: compare(values.get(name), truth[name], instance.rtol, instance.atol, rounding.get(name, 0.0))
                for name in names}

    def remarks(self, values: Mapping[str, object]) -> tuple[str, ...]:
        """What the learner should know of how their code was run, from the values it left on the
        lecture's instance (where a class keeps its gradients, say)."""
        return ()

    def disagreements(self, values: dict[str, object]) -> dict[str, str]:
        """Gradients the learner's code gives two different answers for: name -> how they differ."""
        return {}


def _rounding(instance: Instance, summed: torch.Tensor) -> float:
    """How far two right sums over the batch of `summed` may drift apart in the instance's precision."""
    return instance.n * torch.finfo(instance.dtype).eps * (summed.abs().max().item() if summed.numel() else 0.0)


@dataclass(frozen=True)
class ForwardExercise(Exercise[I]):
    """An exercise on a forward pass of tensors: the learner's code is given the forward pass's
    tensors (and `given` true gradients) and writes the gradients as variables."""

    forward: ForwardPass
    # True gradients handed to the learner as input (exercise 3 starts from dhpreact).
    given: tuple[str, ...] = ()
    # Gradients a learner writes on the way by the lecture's names (exercise 4's dlogits, dhprebn...):
    # not graded, but followed by the diagnosis, so that it can point at the step really wrong.
    intermediates: tuple[Gradient, ...] = ()
    # Every followed gradient, graded or not, in backprop order (by default the graded ones').
    order: tuple[str, ...] = ()
    # The pack's own classifiers of a wrong step, tried after the engine's (see `diagnosis.classify`).
    classifiers: tuple[Classifier, ...] = ()

    def setting(self, instance: I) -> Setting:
        """The leaves and the data of `instance`: what the problem is, concretely."""
        raise NotImplementedError

    @property
    def givens(self) -> tuple[str, ...]:
        return self.given

    @property
    def followed(self) -> tuple[Gradient, ...]:
        by_name = {g.name: g for g in self.gradients + self.intermediates}
        return tuple(by_name[name] for name in self.order or self.names)

    def namespace_from(self, leaves: Mapping[str, torch.Tensor], data: Mapping[str, object]) -> dict[str, object]:
        """torch, F, the data, the leaves and every tensor of the forward pass, as plain copies."""
        with torch.no_grad():
            tensors = self.forward(leaves, data)
        return {"torch": torch, "F": F, **_copies(data), **_copies(leaves), **tensors}

    def namespace(self, instance: I) -> dict[str, object]:
        leaves, data = self.setting(instance)
        namespace = self.namespace_from(leaves, data)
        if self.given:
            namespace.update(autograd_gradients(self.forward, leaves, data, self.given))
        return namespace

    def available(self) -> str:
        """What the learner's code is given, in words."""
        leaves, data = self.setting(self.lecture)
        given = "".join(f", {name} (the true gradient of the loss with respect to {name[1:]})" for name in self.given)
        return ("Your code runs in a namespace that already holds, by the lecture's names and as plain "
                f"tensors with no autograd history: torch, F, {', '.join(data)}, the parameters "
                f"{', '.join(leaves)}{given}, and every tensor of the forward pass:")

    def briefing(self) -> str:
        return f"{textwrap.fill(self.available(), width=88)}\n\n{textwrap.indent(self.forward.source, '    ').rstrip()}"

    def template(self) -> str:
        """One `dname = None` line per gradient, in backprop order, with the shape it must have."""
        lecture = self.namespace(self.lecture)
        shapes = {name: tuple(value.shape) for name, value in lecture.items() if isinstance(value, torch.Tensor)}
        return "\n".join(f"{g.name} = None  # like {g.tensor}: {shapes[g.tensor]}" for g in self.gradients)

    def truth(self, instance: I) -> dict[str, torch.Tensor]:
        return autograd_gradients(self.forward, *self.setting(instance), tuple(g.name for g in self.followed))

    def consumers(self, tensor: str) -> tuple[str, ...]:
        """The tensors of the forward pass that `tensor` feeds directly."""
        return self.forward.consumers.get(tensor, ())

    def branches(self, instance: I, tensor: str) -> dict[str, torch.Tensor]:
        """Autograd's part of `tensor`'s gradient through each of its uses, on `instance`."""
        return branch_gradients(self.forward, *self.setting(instance), tensor)
