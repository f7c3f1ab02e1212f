"""Exercise 4's training run: the lecture's loop, driven by autograd or by a learner's backward,
then batchnorm calibration over the training set, the split losses, and sampled names."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

from . import data
from .model import FUSED, PARAMETERS, Instance, batch_data, parameters

# The lecture's exercise-4 model (its 200,000 steps are `ninja train`'s default).
LECTURE = Instance("lecture", n_hidden=200)

# A backward pass: (parameters, Xb, Yb) -> (the batch's loss, the gradients in PARAMETERS order).
Backward = Callable[[dict[str, torch.Tensor], torch.Tensor, torch.Tensor], tuple[float, list[torch.Tensor]]]


def autograd_backward(params: dict[str, torch.Tensor], Xb: torch.Tensor, Yb: torch.Tensor) -> tuple[float, list]:
    """The lecture's loop with `loss.backward()`: the twin every learner run is measured against."""
    leaves = {k: p.detach().requires_grad_() for k, p in params.items()}
    with torch.enable_grad():
        loss = FUSED(leaves, batch_data(Xb, Yb))["loss"]
        loss.backward()
    return loss.item(), [leaves[k].grad for k in PARAMETERS]


class TrainingRun:
    """One run of the lecture's loop: a generator seeded once draws the parameters, then every batch."""

    def __init__(self, instance: Instance, Xtr: torch.Tensor, Ytr: torch.Tensor):
        self.instance = instance
        self.Xtr, self.Ytr = Xtr, Ytr
        self.generator = torch.Generator().manual_seed(instance.seed)
        self.params = parameters(instance, self.generator)
        self.step = 0

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        ix = torch.randint(0, self.Xtr.shape[0], (self.instance.n,), generator=self.generator)
        return self.Xtr[ix], self.Ytr[ix]

    def update(self, grads: list[torch.Tensor], lr: float) -> None:
        with torch.no_grad():
            for name, grad in zip(PARAMETERS, grads):
                self.params[name] += -lr * grad
        self.step += 1

    def train(self, backward: Backward, steps: int, decay_at: int | None = None,
              progress: Callable[[int, float], None] | None = None) -> list[float]:
        """Take `steps` steps with lr 0.1, then 0.01 from `decay_at` (half way by default); return
        the loss of every step."""
        decay_at = steps // 2 if decay_at is None else decay_at
        losses = []
        for i in range(steps):
            Xb, Yb = self.next_batch()
            loss, grads = backward(self.params, Xb, Yb)
            self.update(grads, 0.1 if i < decay_at else 0.01)
            losses.append(loss)
            if progress:
                progress(i + 1, loss)
        return losses


@lru_cache(maxsize=4)
def training_data(block_size: int) -> data.Splits:
    """The built-in corpus, split as the lecture splits names.txt."""
    return data.split(data.read_words(), block_size)


@lru_cache(maxsize=16)
def training_point(instance: Instance) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """The parameters after `instance.steps` steps of autograd training on the built-in corpus, and
    the batch the next step would draw. Cached: callers must not change what they get."""
    run = TrainingRun(instance, *training_data(instance.block_size).train)
    run.train(autograd_backward, instance.steps, decay_at=instance.steps)
    return run.params, *run.next_batch()


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


class Progress:
    """Current loss, steps per second and time left, for a long training run."""

    def __init__(self, total: int, echo: Callable[[str], None], every: int):
        self.total, self.echo, self.every = total, echo, every
        self.start = time.perf_counter()

    def __call__(self, step: int, loss: float) -> None:
        if step % self.every and step != self.total:
            return
        elapsed = time.perf_counter() - self.start
        rate = step / elapsed if elapsed else 0.0
        left = (self.total - step) / rate if rate else 0.0
        self.echo(f"{step:7d}/{self.total:7d}  loss {loss:.4f}  {rate:6.0f} steps/s  "
                  f"{int(left) // 60:d}:{int(left) % 60:02d} left")
