"""The exercises, as the lecture sets them: the single source of truth for stubs, checks and docs.

Each exercise is a block of learner code run in a namespace that holds the forward pass's tensors,
graded on the gradients it leaves behind. Its gradients are listed in backprop order, each with the
hint that points a learner at the idea without giving the answer away.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ...engine.exercises.compare import harmless_shape
from ...engine.exercises.exercise import ForwardExercise, Gradient, Setting
from ...engine.exercises.forward import ForwardPass
from ...engine.exercises.registry import Pack, ReferenceFiles
from ...engine.exercises.training import TrainingStage
from .. import REFERENCE_FOLDER
from ..makemore.model import EXPANDED, FUSED, PARAMETERS, Instance, batch, learner_data, parameters
from ..makemore.training import LECTURE, stage, training_point

# The lecture's own instance, graded with the lecture's tolerance, then instances that change every
# size the lecture hard-codes (32, 64, 10, 3, 27, 30), in float64, where right formulas agree with
# autograd to ~1e-17 and the same tolerance leaves no room for rounding to fail a right answer.
INSTANCES = (
    Instance("lecture"),
    Instance("lecture sizes, float64", seed=7, dtype=torch.float64),
    Instance("small batch", n=7, n_hidden=20, seed=1, dtype=torch.float64),
    Instance("other sizes", n=50, n_hidden=48, n_embd=6, block_size=4, vocab_size=19, seed=42,
             dtype=torch.float64),
)


@dataclass(frozen=True)
class LectureExercise(ForwardExercise[Instance]):
    """An exercise on the lecture's MLP: its parameters, and a batch of its own."""

    instances: tuple[Instance, ...] = INSTANCES
    forward: ForwardPass = EXPANDED

    def setting(self, instance: Instance) -> Setting:
        params, Xb, Yb = self.point(instance)
        return params, learner_data(instance, Xb, Yb)

    def point(self, instance: Instance) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """The parameters and the batch of `instance`."""
        return parameters(instance), *batch(instance)


# The list the lecture's update zips with the parameters: `for p, grad in zip(parameters, grads)`.
UPDATE_LIST = "grads"


@dataclass(frozen=True)
class TrainingExercise(LectureExercise):
    """Exercise 4: the parameter gradients of one training step, checked at points along a
    reference training run on the built-in corpus, then trusted to drive a run of their own."""

    forward: ForwardPass = FUSED
    training: ClassVar[TrainingStage | None] = stage(
        LECTURE, "the lecture's MLP with batchnorm, n_hidden 200, under torch.no_grad()",
        "batchnorm calibrated over the training set, the train and val losses, and sampled names")
    # The lecture's update pairs grads with the parameters by position.
    DISAGREEMENT_HINT: ClassVar[str] = (
        "the lecture's update, `for p, grad in zip(parameters, grads): p.data += -lr * grad`, pairs grads with "
        f"the parameters by position: grads = [{', '.join('d' + p for p in PARAMETERS)}], in that order, each "
        "the gradient you computed for it.")

    @property
    def collected(self) -> tuple[str, ...]:
        return (*self.names, UPDATE_LIST)

    def gradients_from(self, values: dict[str, object]) -> dict[str, object]:
        """The lecture's update zips the parameters with the `grads` list, so where there is one,
        entry i is the gradient of PARAMETERS[i], whatever the named variables hold."""
        grads = values.get(UPDATE_LIST)
        if not isinstance(grads, (list, tuple)):
            return values
        return {"d" + p: grads[i] if i < len(grads) else None for i, p in enumerate(PARAMETERS)}

    def disagreements(self, values: dict[str, object]) -> dict[str, str]:
        """Where the `grads` list holds something other than the named gradient of its position:
        entries in another order, one left out, one computed from a different tensor."""
        grads = values.get(UPDATE_LIST)
        if not isinstance(grads, (list, tuple)):
            return {}
        named = {name: value for name in self.names if isinstance(value := values.get(name), torch.Tensor)}
        found = {}
        for i, p in enumerate(PARAMETERS):
            name = "d" + p
            if i >= len(grads):
                found[name] = (f"grads has {len(grads)} entries for the {len(PARAMETERS)} parameters "
                               f"({', '.join(PARAMETERS)}): {p} gets no update")
            elif name in named and not _same(grads[i], named[name]):
                holds = next((other for other, value in named.items() if _same(grads[i], value)), None)
                found[name] = (f"grads[{i}] holds {holds} where the lecture's parameter order has {p}"
                               if holds else f"grads[{i}] is not your {name}, though the lecture's "
                               f"parameter order has {p} there")
        left_out = [name for name, value in named.items() if not any(_same(entry, value) for entry in grads)]
        if left_out and len(grads) < len(PARAMETERS):
            name = left_out[0]
            found[name] = (f"grads leaves out {name}, so from grads[{PARAMETERS.index(name[1:])}] on each "
                           "entry updates a parameter it is not the gradient of")
        if len(grads) > len(PARAMETERS):
            found.setdefault("d" + PARAMETERS[-1], f"grads has {len(grads)} entries for the "
                             f"{len(PARAMETERS)} parameters ({', '.join(PARAMETERS)})")
        return found

    def point(self, instance: Instance) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """The parameters after `instance.steps` steps of training, and the next batch."""
        return training_point(instance)


def _same(a: object, b: torch.Tensor) -> bool:
    """The same tensor, or an equal one (a `.clone()`, or a reshape by leading 1s)."""
    return a is b or (isinstance(a, torch.Tensor) and a.numel() == b.numel()
                      and harmless_shape(tuple(a.shape), tuple(b.shape))
                      and torch.equal(a.reshape(b.shape).to(b.dtype), b))


EX1 = LectureExercise(
    key="ex1",
    title="Exercise 1: backprop through the whole thing manually",
    task=(
        "Backpropagate through exactly all of the variables as they are defined in the forward "
        "pass, one by one, from dlogprobs back to dC. Tensors used more than once (counts, "
        "logits, bndiff, hprebn) need the gradients from each use added up."
    ),
    gradients=(
        Gradient("dlogprobs", "loss is minus the mean of n entries of logprobs, one per row, at "
                 "the label. What does an entry that the loss never picks contribute?"),
        Gradient("dprobs", "logprobs = log(probs): the local derivative of log(x) is 1/x; chain "
                 "it with dlogprobs."),
        Gradient("dcounts_sum_inv", "probs = counts * counts_sum_inv copies a (n, 1) column "
                 "across every column: a broadcast in the forward pass is a sum in the backward "
                 "pass (keep the dimension)."),
        Gradient("dcounts_sum", "counts_sum_inv = counts_sum**-1: the power rule."),
        Gradient("dcounts", "counts is used twice, in probs and in counts_sum: add both "
                 "contributions (+=)."),
        Gradient("dnorm_logits", "the derivative of exp(x) is exp(x), which you already have."),
        Gradient("dlogit_maxes", "norm_logits = logits - logit_maxes broadcasts logit_maxes "
                 "along each row: sum the negated gradient over the row, keeping the dimension. "
                 "It should come out tiny: why?"),
        Gradient("dlogits", "logits feeds norm_logits directly and logit_maxes through the max, "
                 "which passes gradient only to the position of each row's maximum: add both."),
        Gradient("dh", "logits = h @ W2 + b2: the gradient of a matrix product is a matrix "
                 "product; let the shapes tell you which one, and what to transpose."),
        Gradient("dW2", "the same matrix product: which product of h and dlogits has W2's shape?"),
        Gradient("db2", "b2 is broadcast over the batch: sum over the dimension it was copied "
                 "along."),
        Gradient("dhpreact", "h = tanh(hpreact), and d tanh(x)/dx = 1 - tanh(x)**2: you already "
                 "have tanh(x)."),
        Gradient("dbngain", "bngain (1, n_hidden) multiplies bnraw and is broadcast over the batch: "
                 "multiply by its partner and sum over dim 0, keeping the dimension."),
        Gradient("dbnbias", "bnbias is added, broadcast over the batch: sum over dim 0, keeping "
                 "the dimension."),
        Gradient("dbnraw", "hpreact = bngain * bnraw + bnbias: what multiplies bnraw?"),
        Gradient("dbnvar_inv", "bnraw = bndiff * bnvar_inv, and bnvar_inv (1, n_hidden) is "
                 "broadcast over the rows: multiply, then sum over dim 0 with keepdim."),
        Gradient("dbnvar", "bnvar_inv = (bnvar + 1e-5)**-0.5: the power rule."),
        Gradient("dbndiff2", "bnvar is 1/(n-1) times a sum over dim 0: a sum in the forward pass "
                 "spreads the gradient to every summand; keep the 1/(n-1)."),
        Gradient("dbndiff", "bndiff is used twice, in bnraw and (squared) in bndiff2: add both "
                 "contributions."),
        Gradient("dbnmeani", "bndiff = hprebn - bnmeani broadcasts bnmeani over the rows: sum the "
                 "negated gradient over dim 0."),
        Gradient("dhprebn", "hprebn feeds bndiff directly and bnmeani through a mean over dim 0: "
                 "add both, the second spread evenly over the n rows."),
        Gradient("dembcat", "hprebn = embcat @ W1 + b1: a matrix product again; match the shapes."),
        Gradient("dW1", "like dW2: which product of embcat and dhprebn has W1's shape?"),
        Gradient("db1", "like db2, a sum over the batch. b1 sits just before batchnorm, so its "
                 "true gradient is essentially zero.", rounding_of="dhprebn"),
        Gradient("demb", "embcat is only a view of emb: give the gradient emb's shape back."),
        Gradient("dC", "emb = C[Xb] picks rows of C, and the same row is picked many times: "
                 "every pick must add into dC.", indexed_by="Xb"),
    ),
)

EX2 = LectureExercise(
    key="ex2",
    title="Exercise 2: backprop through cross_entropy in one go",
    task=(
        "Write dlogits directly from logits and Yb, without the loss's intermediate tensors: "
        "write the loss of one example mathematically, differentiate it with respect to each "
        "logit, simplify, then vectorise over the batch. The result should match autograd "
        "approximately (the lecture sees a maxdiff of about 5e-9)."
    ),
    gradients=(
        Gradient("dlogits", "for one row, treat the logit at the label apart from the others; "
                 "then remember the loss is a mean over the n rows."),
    ),
)

EX3 = LectureExercise(
    key="ex3",
    title="Exercise 3: backprop through batchnorm in one go",
    task=(
        "You are given dhpreact. Write dhprebn directly through the whole batchnorm (mean, "
        "variance with Bessel's correction n/(n-1), normalisation, gain and bias), without the "
        "intermediate tensors' gradients. The result should match autograd approximately (the "
        "lecture sees a maxdiff of about 9e-10)."
    ),
    gradients=(
        Gradient("dhprebn", "derive it for one neuron on paper, through the mean and the "
                 "variance (n-1, not n), then vectorise over all columns at once; every sum over "
                 "the batch must broadcast back over the rows."),
    ),
    given=("dhpreact",),
)

EX4 = TrainingExercise(
    key="ex4",
    title="Exercise 4: put it all together",
    task=(
        "Train the MLP (n_hidden 200) with your own backward pass instead of loss.backward(). "
        "Given one training step's forward pass, write the gradients of the seven parameters, "
        "dC, dW1, db1, dW2, db2, dbngain, dbnbias (or the lecture's list grads = [dC, dW1, db1, "
        "dW2, db2, dbngain, dbnbias]). Exercises 2 and 3 make this short. Your code runs under "
        "torch.no_grad(), as in the lecture: it must not need autograd. The check compares your "
        "gradients with autograd at points along a training run, then trains with them next to "
        "a twin run driven by autograd, and `ninja train` runs the lecture's whole exercise."
    ),
    gradients=(
        Gradient("dW2", "logits = h @ W2 + b2, and dlogits comes in one go as in exercise 2."),
        Gradient("db2", "b2 is broadcast over the batch: sum dlogits over it."),
        Gradient("dbngain", "hpreact = bngain * bnraw + bnbias: multiply by bnraw and sum over the "
                 "batch, keeping the dimension."),
        Gradient("dbnbias", "sum dhpreact over the batch, keeping the dimension."),
        Gradient("dW1", "hprebn = embcat @ W1 + b1: which product of embcat and dhprebn has W1's "
                 "shape? Get dhprebn from dhpreact as in exercise 3."),
        Gradient("db1", "a sum of dhprebn over the batch; essentially zero, since batchnorm "
                 "follows.", rounding_of="dhprebn"),
        Gradient("dC", "emb = C[Xb]: every pick of a row of C adds into dC, repeated picks too.",
                 indexed_by="Xb"),
    ),
    intermediates=(
        Gradient("dlogits", "as in exercise 2, in one go from logits and Yb."),
        Gradient("dh", "logits = h @ W2 + b2: a matrix product; let the shapes say which."),
        Gradient("dhpreact", "h = tanh(hpreact), and d tanh(x)/dx = 1 - tanh(x)**2."),
        Gradient("dhprebn", "as in exercise 3, in one go through the whole batchnorm (n-1, not n, "
                 "in the variance)."),
        Gradient("dembcat", "hprebn = embcat @ W1 + b1: a matrix product; match the shapes."),
        Gradient("demb", "embcat is only a view of emb: give the gradient emb's shape back."),
    ),
    order=("dlogits", "dh", "dW2", "db2", "dhpreact", "dbngain", "dbnbias", "dhprebn", "dembcat", "dW1",
           "db1", "demb", "dC"),
    # Step 0 of the lecture's run, later steps with other batches, float64, and other sizes.
    instances=(
        Instance("step 0", n_hidden=200),
        Instance("step 40", n_hidden=200, steps=40),
        Instance("step 25, float64", n_hidden=200, steps=25, dtype=torch.float64),
        Instance("other sizes, float64", n=20, n_hidden=48, n_embd=6, block_size=4, seed=3, steps=10,
                 dtype=torch.float64),
    ),
)

EXERCISES = {exercise.key: exercise for exercise in (EX1, EX2, EX3, EX4)}

# Learners mostly answer in the lecture's own notebook, untagged: each answer is found by what it assigns.
PACK = Pack("makemore4", "makemore part 4: becoming a backprop ninja", tuple(EXERCISES.values()),
            found_by_writes=True, in_training_loop=EX4.key, update_list=UPDATE_LIST, checked_by_call=True,
            reference_files=ReferenceFiles(REFERENCE_FOLDER, {key: f"{key}.py" for key in EXERCISES},
                                           {key: f"mistakes/{key}.py" for key in ("ex1", "ex2", "ex3")}))
