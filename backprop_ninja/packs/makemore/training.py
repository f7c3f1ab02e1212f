"""Exercise 4's training run: the lecture's loop, driven by autograd or by a learner's backward,
then batchnorm calibration over the training set, the split losses, and sampled names."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

from ...engine.exercises.training import TrainingRun, autograd_backward
from . import data
from .model import FUSED, PARAMETERS, Instance, learner_data, parameters

# The lecture's exercise-4 model (its 200,000 steps are `ninja train`'s default).
LECTURE = Instance("lecture", n_hidden=200)

@lru_cache(maxsize=4)
def training_data(block_size: int) -> data.Splits:
    """The built-in corpus, split as the lecture splits names.txt."""
    return data.split(data.read_words(), block_size)


BatchData = Callable[[Instance, torch.Tensor, torch.Tensor], dict[str, object]]


def training_run(instance: Instance, examples: tuple[torch.Tensor, torch.Tensor] | None = None,
                 names: tuple[str, ...] = PARAMETERS, batch_data: BatchData = learner_data) -> TrainingRun:
    """The lecture's loop on `examples` (the built-in corpus's training split by default): a generator
    seeded once draws the parameters (those `names` are trained), then every batch, which
    `batch_data` names for the forward pass."""
    X, Y = examples or training_data(instance.block_size).train
    generator = torch.Generator().manual_seed(instance.seed)
    params = {name: p for name, p in parameters(instance, generator).items() if name in names}

    def batch() -> dict[str, object]:
        ix = torch.randint(0, X.shape[0], (instance.n,), generator=generator)
        return batch_data(instance, X[ix], Y[ix])

    return TrainingRun(params, batch)


@lru_cache(maxsize=16)
def training_point(instance: Instance) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """The parameters after `instance.steps` steps of autograd training on the built-in corpus, and
    the batch the next step would draw. Cached: callers must not change what they get."""
    run = training_run(instance)
    run.train(autograd_backward(FUSED), instance.steps, decay_at=instance.steps)
    batch = run.next_batch()
    Xb, Yb = batch["Xb"], batch["Yb"]
    assert isinstance(Xb, torch.Tensor) and isinstance(Yb, torch.Tensor)  # as learner_data made them
    return run.params, Xb, Yb


@dataclass(frozen=True)
class Evaluation:
    train_loss: float
    val_loss: float
    samples: tuple[str, ...]


@torch.no_grad()
def evaluate(params: dict[str, torch.Tensor], splits: data.Splits, samples: int = 20,
             seed: int = LECTURE.seed + 10) -> Evaluation:
    """Calibrate batchnorm over the whole training set, then the lecture's split losses and samples."""
    C, W1, b1, W2, b2, bngain, bnbias = (params[k] for k in PARAMETERS)
    Xtr = splits.train[0]
    hpreact = C[Xtr].view(Xtr.shape[0], -1) @ W1 + b1
    bnmean = hpreact.mean(0, keepdim=True)
    bnvar = hpreact.var(0, keepdim=True, unbiased=True)

    def logits(x: torch.Tensor) -> torch.Tensor:
        hpreact = C[x].view(x.shape[0], -1) @ W1 + b1
        hpreact = bngain * (hpreact - bnmean) * (bnvar + 1e-5) ** -0.5 + bnbias
        return torch.tanh(hpreact) @ W2 + b2

    def split_loss(x: torch.Tensor, y: torch.Tensor) -> float:
        return F.cross_entropy(logits(x), y).item()

    g = torch.Generator().manual_seed(seed)
    block_size = Xtr.shape[1]
    names = []
    for _ in range(samples):
        out: list[int] = []
        context = [0] * block_size
        while True:
            probs = F.softmax(logits(torch.tensor([context])), dim=1)
            ix = int(torch.multinomial(probs, num_samples=1, generator=g).item())  # an index: int already
            context = context[1:] + [ix]
            out.append(ix)
            if ix == 0:
                break
        names.append(data.decode(out))
    return Evaluation(split_loss(*splits.train), split_loss(*splits.val), tuple(names))

