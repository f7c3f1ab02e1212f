"""The lecture's training stage, for the packs on its MLP: the loop on the names data (driven by
autograd or by a learner's backward), the learning-rate schedule, the split losses and sampled names."""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

from ...engine.exercises.training import (Dataset, Evaluation, Examples, Schedule, TrainingRun,
                                          TrainingStage, autograd_backward)
from . import data
from .model import FUSED, PARAMETERS, Instance, learner_data, parameters

# The lecture's exercise-4 model (its 200,000 steps are `ninja train`'s default).
LECTURE = Instance("lecture", n_hidden=200)
# Learning rate 0.1, then 0.01 from half way.
SCHEDULE = Schedule(rate=0.1, decayed=0.01, decay_from=0.5)
STEPS = 200_000


@lru_cache(maxsize=4)
def training_data(block_size: int) -> data.Splits:
    """The built-in corpus, split as the lecture splits names.txt."""
    return data.split(data.read_words(), block_size)


BatchData = Callable[[Instance, torch.Tensor, torch.Tensor], dict[str, object]]
# The logits of a trained model for contexts `x`, given its parameters and its training inputs.
Logits = Callable[[dict[str, torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]


def training_run(instance: Instance, examples: Examples | None = None, names: tuple[str, ...] = PARAMETERS,
                 batch_data: BatchData = learner_data) -> TrainingRun:
    """The lecture's loop on `examples` (the built-in corpus's training split by default): a generator
    seeded once draws the parameters (those `names` are trained), then every batch, which
    `batch_data` names for the forward pass."""
    X, Y = examples or training_data(instance.block_size).train
    generator = torch.Generator().manual_seed(instance.seed)
    params = {name: p for name, p in parameters(instance, generator).items() if name in names}

    def batch() -> dict[str, object]:
        ix = torch.randint(0, X.shape[0], (instance.n,), generator=generator)
        return batch_data(instance, X[ix], Y[ix])

    return TrainingRun(params, batch, SCHEDULE)


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


def dataset(block_size: int, path: Path | None) -> Dataset:
    """The words in `path` (the built-in corpus where None), split as the lecture splits names.txt."""
    splits = data.split(data.read_words(path), block_size)  # DataError where it cannot be
    return Dataset(str(path) if path else data.BUILT_IN, splits.train, splits.val)


def calibrated(params: dict[str, torch.Tensor], Xtr: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Exercise 4's model with batchnorm calibrated over the whole training set, as the lecture does."""
    C, W1, b1, W2, b2, bngain, bnbias = (params[k] for k in PARAMETERS)
    hpreact = C[Xtr].view(Xtr.shape[0], -1) @ W1 + b1
    bnmean = hpreact.mean(0, keepdim=True)
    bnvar = hpreact.var(0, keepdim=True, unbiased=True)

    def logits(x: torch.Tensor) -> torch.Tensor:
        hpreact = C[x].view(x.shape[0], -1) @ W1 + b1
        hpreact = bngain * (hpreact - bnmean) * (bnvar + 1e-5) ** -0.5 + bnbias
        return torch.tanh(hpreact) @ W2 + b2
    return logits


@torch.no_grad()
def evaluate(params: dict[str, torch.Tensor], splits: Dataset, samples: int = 20, model: Logits = calibrated,
             seed: int = LECTURE.seed + 10) -> Evaluation:
    """The lecture's split losses and sampled names, of `model` with the trained parameters."""
    Xtr = splits.train[0]
    logits = model(params, Xtr)

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


def stage(instance: Instance, trained: str, measured: str, names: tuple[str, ...] = PARAMETERS,
          batch_data: BatchData = learner_data, model: Logits = calibrated) -> TrainingStage:
    """The lecture's training stage for the model `instance` sizes, of which `names` are trained: in
    words, what is `trained` and how it is `measured` after."""
    return TrainingStage(
        run=lambda examples: training_run(instance, examples, names, batch_data),
        data=lambda path: dataset(instance.block_size, path),
        evaluate=lambda params, splits, samples: evaluate(params, splits, samples, model),
        steps=STEPS, description=f"{trained}, batch {instance.n}, {SCHEDULE.describe()}; then {measured}")
