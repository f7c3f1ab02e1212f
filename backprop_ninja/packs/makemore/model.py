"""The lecture's MLP: its sizes, its parameters, a batch, and its forward passes.

Everything here is a pure function of an `Instance`, so the grader can rebuild the same tensors
wherever it runs a learner's code and, separately, wherever it computes the truth.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...engine.exercises import exercise
from ...engine.exercises.forward import ForwardPass

LECTURE_SEED = 2147483647
PARAMETERS = ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias")


@dataclass(frozen=True)
class Instance(exercise.Instance):
    """The lecture's MLP at some sizes, drawn from the lecture's seed by default."""

    seed: int = LECTURE_SEED
    n: int = 32
    n_hidden: int = 64
    n_embd: int = 10
    block_size: int = 3
    vocab_size: int = 27
    # Exercise 4 checks points along a training run: the parameters after this many steps.
    steps: int = 0

    def named_sizes(self) -> dict[str, int]:
        """The sizes a learner might write as numbers, by the names they should use instead."""
        return {"n": self.n, "n-1": self.n - 1, "n_hidden": self.n_hidden, "vocab_size": self.vocab_size,
                "n_embd * block_size": self.n_embd * self.block_size, "n_embd": self.n_embd,
                "block_size": self.block_size}

    def describe(self) -> str:
        at_step = f", after {self.steps} training steps" if self.steps else ""
        return (f"n={self.n}, n_hidden={self.n_hidden}, n_embd={self.n_embd}, "
                f"block_size={self.block_size}, vocab_size={self.vocab_size}, "
                f"seed={self.seed}, {self.precision}{at_step}")


def parameters(instance: Instance, g: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """The lecture's initialisation: small random biases, so that zeros cannot hide a wrong gradient.
    Drawn from `g` when given (training goes on drawing its batches from it), else from the seed."""
    i = instance
    g = torch.Generator().manual_seed(i.seed) if g is None else g
    fan_in = i.n_embd * i.block_size
    drawn = {
        "C": torch.randn((i.vocab_size, i.n_embd), generator=g),
        "W1": torch.randn((fan_in, i.n_hidden), generator=g) * (5 / 3) / fan_in**0.5,
        "b1": torch.randn(i.n_hidden, generator=g) * 0.1,
        "W2": torch.randn((i.n_hidden, i.vocab_size), generator=g) * 0.1,
        "b2": torch.randn(i.vocab_size, generator=g) * 0.1,
        # The lecture draws these two from the global generator; ours stay reproducible.
        "bngain": torch.randn((1, i.n_hidden), generator=g) * 0.1 + 1.0,
        "bnbias": torch.randn((1, i.n_hidden), generator=g) * 0.1,
    }
    return {name: p.to(i.dtype) for name, p in drawn.items()}


def batch(instance: Instance) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of contexts `Xb` (n, block_size) and labels `Yb` (n,), random over the vocabulary,
    from a generator of its own: exercises 1-3 need no data set."""
    i = instance
    g = torch.Generator().manual_seed(i.seed + 1)
    Xb = torch.randint(0, i.vocab_size, (i.n, i.block_size), generator=g)
    Yb = torch.randint(0, i.vocab_size, (i.n,), generator=g)
    return Xb, Yb


# Exercises 1-3: every step its own tensor, down to the loss.
EXPANDED = ForwardPass("""\
emb = C[Xb]  # embed the characters into vectors
embcat = emb.view(emb.shape[0], -1)  # concatenate the vectors
hprebn = embcat @ W1 + b1  # hidden layer pre-activation
bnmeani = 1/n*hprebn.sum(0, keepdim=True)
bndiff = hprebn - bnmeani
bndiff2 = bndiff**2
bnvar = 1/(n-1)*(bndiff2).sum(0, keepdim=True)  # Bessel's correction (dividing by n-1, not n)
bnvar_inv = (bnvar + 1e-5)**-0.5
bnraw = bndiff * bnvar_inv
hpreact = bngain * bnraw + bnbias
h = torch.tanh(hpreact)  # hidden layer
logits = h @ W2 + b2  # output layer
logit_maxes = logits.max(1, keepdim=True).values
norm_logits = logits - logit_maxes  # subtract max for numerical stability
counts = norm_logits.exp()
counts_sum = counts.sum(1, keepdims=True)
counts_sum_inv = counts_sum**-1  # not 1.0/counts_sum: **-1 keeps backprop bit-exact
probs = counts * counts_sum_inv
logprobs = probs.log()
loss = -logprobs[range(n), Yb].mean()
""", PARAMETERS)

# Exercise 4: one training step's forward pass, with batchnorm and cross-entropy fused.
FUSED = ForwardPass("""\
emb = C[Xb]  # embed the characters into vectors
embcat = emb.view(emb.shape[0], -1)  # concatenate the vectors
hprebn = embcat @ W1 + b1  # hidden layer pre-activation
bnmean = hprebn.mean(0, keepdim=True)
bnvar = hprebn.var(0, keepdim=True, unbiased=True)
bnvar_inv = (bnvar + 1e-5)**-0.5
bnraw = (hprebn - bnmean) * bnvar_inv
hpreact = bngain * bnraw + bnbias
h = torch.tanh(hpreact)  # hidden layer
logits = h @ W2 + b2  # output layer
loss = F.cross_entropy(logits, Yb)  # loss function
""", PARAMETERS)


def learner_data(instance: Instance, Xb: torch.Tensor, Yb: torch.Tensor) -> dict[str, object]:
    """What a learner's code is given besides the parameters: the sizes and the batch, by the
    lecture's names (n is the batch's size; the lecture calls it batch_size too)."""
    i = instance
    return {"n": i.n, "batch_size": i.n, "n_hidden": i.n_hidden, "n_embd": i.n_embd, "block_size": i.block_size,
            "vocab_size": i.vocab_size, "Xb": Xb, "Yb": Yb}
