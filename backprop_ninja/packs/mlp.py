"""makemore part 2: the MLP of Bengio et al. (2003) on characters, whose backward the learner writes
in the compact form (cross-entropy and tanh each in one go), the gradients `loss.backward()` fills in
the lecture.

The sizes, the parameters and the batches are part 4's (scaled as part 3 learns to, so that tanh does
not saturate: a saturated unit passes no gradient, and would hide mistakes behind it), batchnorm left out.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch

from ..engine.exercises.exercise import ForwardExercise, Gradient, Setting
from ..engine.exercises.forward import ForwardPass
from ..engine.exercises.registry import Pack, ReferenceFiles
from ..engine.exercises.training import TrainingStage
from . import REFERENCE_FOLDER
from .makemore.model import Instance, batch, parameters
from .makemore.training import stage

PARAMETERS = ("C", "W1", "b1", "W2", "b2")
FORWARD = ForwardPass("""\
emb = C[X]  # (n, block_size, n_embd)
hpreact = emb.view(-1, block_size * n_embd) @ W1 + b1
h = torch.tanh(hpreact)  # (n, n_hidden)
logits = h @ W2 + b2  # (n, vocab_size)
loss = F.cross_entropy(logits, Y)
""", PARAMETERS)


def _data(instance: Instance, X: torch.Tensor, Y: torch.Tensor) -> dict[str, object]:
    """A batch and the sizes, by part 2's names."""
    i = instance
    return {"X": X, "Y": Y, "n": i.n, "block_size": i.block_size, "n_embd": i.n_embd, "n_hidden": i.n_hidden,
            "vocab_size": i.vocab_size}


def _plain(params: dict[str, torch.Tensor], Xtr: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """The trained MLP's logits: with no batchnorm, nothing to calibrate."""
    C, W1, b1, W2, b2 = (params[k] for k in PARAMETERS)
    return lambda x: torch.tanh(C[x].view(x.shape[0], -1) @ W1 + b1) @ W2 + b2


@dataclass(frozen=True)
class MLPExercise(ForwardExercise[Instance]):
    """Part 4's sizes, initialisation, batches and training loop, without batchnorm."""

    # The lecture's model, trained next to autograd's twin once the gradients pass.
    training: ClassVar[TrainingStage | None] = stage(
        Instance("lecture", n_hidden=200), "part 2's MLP, n_hidden 200", "the train and val losses, and sampled names",
        PARAMETERS, _data, _plain)

    def setting(self, instance: Instance) -> Setting:
        params = {k: p for k, p in parameters(instance).items() if k in PARAMETERS}
        return params, _data(instance, *batch(instance))


MLP = MLPExercise(
    key="mlp",
    title="The MLP's backward pass, compact",
    task=("makemore part 2 trains an MLP: embed each of block_size characters, concatenate, a tanh "
          "hidden layer, logits, cross-entropy. Write the gradients loss.backward() fills in, each "
          "layer in one go: cross-entropy's gradient from the softmax, tanh's from its output. Then your "
          "gradients train the network, next to a twin run driven by autograd."),
    gradients=(
        Gradient("dlogits", "cross-entropy's gradient is the softmax minus one at the label, and the "
                 "loss is a mean over the batch."),
        Gradient("dh", "logits = h @ W2 + b2: a matrix product; match the shapes."),
        Gradient("dW2", "which product of h and dlogits has W2's shape?"),
        Gradient("db2", "b2 is broadcast over the batch: sum over the dimension it was copied along."),
        Gradient("dhpreact", "h = tanh(hpreact), and d tanh(x)/dx = 1 - tanh(x)**2: you already have tanh(x)."),
        Gradient("dW1", "like dW2, with the concatenated embeddings as the layer's input."),
        Gradient("db1", "like db2, a sum over the batch."),
        Gradient("demb", "the concatenation is only a view of emb: give the gradient emb's shape back."),
        Gradient("dC", "emb = C[X] picks rows of C, the same row many times: every pick adds to its row.",
                 indexed_by="X"),
    ),
    instances=(
        Instance("lecture", n_hidden=200),
        Instance("block_size 5, n_embd 2, float64", n=20, block_size=5, n_embd=2, n_hidden=100, seed=7,
                 dtype=torch.float64),
        Instance("block_size 8, float64", n=16, block_size=8, n_hidden=100, seed=42, dtype=torch.float64),
        Instance("other sizes, float64", n=7, n_embd=2, n_hidden=200, vocab_size=19, seed=3, dtype=torch.float64),
    ),
    forward=FORWARD,
)

PACK = Pack("mlp", "makemore part 2: the MLP, its backward pass in compact form", (MLP,),
            reference_files=ReferenceFiles(REFERENCE_FOLDER, {MLP.key: "mlp.py"}, {MLP.key: "mistakes/mlp.py"}))
