"""An exercise as the engine sees it: what it asks (its gradients in backprop order, with hints;
any true gradients it gives; where it is checked) and the problem it asks about (its instances, the
leaves and data of each, its forward pass). A pack defines its exercises as subclasses that say how
an instance becomes leaves and data (`setting`); the namespace the learner's code runs in, the truth,
and the branch structure the diagnosis follows all derive from that and the forward pass.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Generic, Protocol, TypeVar

import torch
import torch.nn.functional as F

from .forward import ForwardPass, autograd_gradients, branch_gradients
from .training import TrainingRun

# A data set's inputs and targets, to train on.
Examples = tuple[torch.Tensor, torch.Tensor]

# An instance's leaves (the tensors gradients are taken for) and data (all else the forward pass reads).
Setting = tuple[dict[str, torch.Tensor], dict[str, object]]


class Instance(Protocol):
    """One concrete setting of a problem: sizes, seed, precision and the tolerance that fits it."""

    @property
    def label(self) -> str: ...
    @property
    def n(self) -> int: ...  # examples in a batch: what a mean divides by
    @property
    def dtype(self) -> torch.dtype: ...
    @property
    def rtol(self) -> float: ...
    @property
    def atol(self) -> float: ...
    def describe(self) -> str: ...
    def __hash__(self) -> int: ...  # truths are cached by instance
    def named_sizes(self) -> dict[str, int]:
        """The sizes a learner might write as numbers, by the names they should use instead; the
        first is what the problem calls `n`."""
        ...


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
    """An exercise: what it asks for (its gradients, in backprop order), what the learner's code is
    given (the forward pass's tensors, and `given` true gradients), and where it is checked (its
    instances, the first of which is the lecture's own)."""

    key: str
    title: str
    task: str
    gradients: tuple[Gradient, ...]
    instances: tuple[I, ...]
    forward: ForwardPass
    # True gradients handed to the learner as input (exercise 3 starts from dhpreact).
    given: tuple[str, ...] = ()
    # Gradients a learner writes on the way by the lecture's names (exercise 4's dlogits, dhprebn...):
    # not graded, but followed by the diagnosis, so that it can point at the step really wrong.
    intermediates: tuple[Gradient, ...] = ()
    # Every followed gradient, graded or not, in backprop order (by default the graded ones').
    order: tuple[str, ...] = ()

    # Does the exercise end with a training stage: the learner's gradients driving a training run
    # next to autograd's twin (`training_run` then makes both)?
    TRAINS: ClassVar[bool] = False
    # The hint for answers the code gives twice, differently (see `disagreements`).
    DISAGREEMENT_HINT: ClassVar[str] = ""

    def setting(self, instance: I) -> Setting:
        """The leaves and the data of `instance`: what the problem is, concretely."""
        raise NotImplementedError

    def training_run(self, examples: Examples | None = None) -> TrainingRun:
        """A fresh run of the lecture's training loop, on `examples` (the pack's own by default):
        the same start and the same batches every time."""
        raise NotImplementedError(f"{self.key} has no training stage")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.gradients)

    @property
    def lecture(self) -> I:
        """The lecture's own instance: the one shown as `cmp` shows it, with the lecture's tolerance."""
        return self.instances[0]

    def time_limit(self, steps: int) -> float:
        """Seconds the learner's code may run in all, in one check (`steps` for exercise 4's training)."""
        return 60.0

    @property
    def followed(self) -> tuple[Gradient, ...]:
        by_name = {g.name: g for g in self.gradients + self.intermediates}
        return tuple(by_name[name] for name in self.order or self.names)

    @property
    def collected(self) -> tuple[str, ...]:
        """The names read back from the learner's namespace after their code has run."""
        return self.names

    def gradients_from(self, values: dict[str, object]) -> dict[str, object]:
        """The gradients, by name, out of the values collected from the learner's namespace."""
        return values

    def disagreements(self, values: dict[str, object]) -> dict[str, str]:
        """Gradients the learner's code gives two different answers for: name -> how they differ."""
        return {}

    def namespace_from(self, leaves: Mapping[str, torch.Tensor], data: Mapping[str, object]) -> dict[str, object]:
        """torch, F, the data, the leaves and every tensor of the forward pass, as plain copies."""
        with torch.no_grad():
            tensors = self.forward(leaves, data)
        return {"torch": torch, "F": F, **_copies(data), **_copies(leaves), **tensors}

    def namespace(self, instance: I) -> dict[str, object]:
        """What the learner's code runs in: never the gradients it is asked for."""
        leaves, data = self.setting(instance)
        namespace = self.namespace_from(leaves, data)
        if self.given:
            namespace.update(autograd_gradients(self.forward, leaves, data, self.given))
        return namespace

    def available(self) -> str:
        """What the learner's code is given, in words, for the stubs."""
        leaves, data = self.setting(self.lecture)
        given = "".join(f", {name} (the true gradient of the loss with respect to {name[1:]})" for name in self.given)
        return ("Your code runs in a namespace that already holds, by the lecture's names and as plain "
                f"tensors with no autograd history: torch, F, {', '.join(data)}, the parameters "
                f"{', '.join(leaves)}{given}, and every tensor of the forward pass:")

    def truth(self, instance: I) -> dict[str, torch.Tensor]:
        """Autograd's gradients for every followed gradient, graded or not."""
        return autograd_gradients(self.forward, *self.setting(instance), tuple(g.name for g in self.followed))

    def consumers(self, tensor: str) -> tuple[str, ...]:
        """The tensors of the forward pass that `tensor` feeds directly."""
        return self.forward.consumers.get(tensor, ())

    def branches(self, instance: I, tensor: str) -> dict[str, torch.Tensor]:
        """Autograd's part of `tensor`'s gradient through each of its uses, on `instance`."""
        return branch_gradients(self.forward, *self.setting(instance), tensor)
