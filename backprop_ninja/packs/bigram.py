"""makemore part 1: the bigram model as a one-layer neural net, trained by gradient descent. The
learner writes the backward pass of its loss, regularizer included, that `loss.backward()` computes
in the lecture.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..engine.exercises.exercise import ForwardExercise, Gradient, Instance, Setting
from ..engine.exercises.forward import ForwardPass
from ..engine.exercises.registry import Pack, ReferenceFiles
from . import REFERENCE_FOLDER
from .makemore.data import STOI

FORWARD = ForwardPass("""\
xenc = F.one_hot(xs, num_classes=V).to(W.dtype)  # input to the network: one-hot encoding
logits = xenc @ W  # predict log-counts
counts = logits.exp()  # counts, like the bigram table's
counts_sum = counts.sum(1, keepdim=True)
counts_sum_inv = counts_sum**-1
probs = counts * counts_sum_inv  # probabilities for next character
logprobs = probs.log()
loss = -logprobs[torch.arange(N), ys].mean() + reg * (W**2).mean()  # with the regularizer
""", ("W",))


@dataclass(frozen=True)
class BigramInstance(Instance):
    """Bigrams (xs, ys) over a vocabulary of V characters, weights W (V x V), a regularizer's strength."""

    seed: int = 2147483647
    N: int = 5
    V: int = 27
    reg: float = 0.01
    word: str | None = None  # the bigrams of this word, where given; else random ones

    @property
    def n(self) -> int:
        return self.N

    def named_sizes(self) -> dict[str, int]:
        return {"N": self.N, "V": self.V, "V*V": self.V * self.V}

    def describe(self) -> str:
        where = f"the bigrams of {self.word!r}" if self.word else f"N={self.N} random bigrams"
        return f"{where}, V={self.V}, reg={self.reg}, seed={self.seed}, {self.precision}"


def _bigrams(instance: BigramInstance) -> tuple[torch.Tensor, torch.Tensor]:
    if instance.word:
        chars = [0] + [STOI[ch] for ch in instance.word] + [0]
        return torch.tensor(chars[:-1]), torch.tensor(chars[1:])
    g = torch.Generator().manual_seed(instance.seed + 1)
    return (torch.randint(0, instance.V, (instance.N,), generator=g),
            torch.randint(0, instance.V, (instance.N,), generator=g))


@dataclass(frozen=True)
class BigramExercise(ForwardExercise[BigramInstance]):
    def setting(self, instance: BigramInstance) -> Setting:
        xs, ys = _bigrams(instance)
        W = torch.randn((instance.V, instance.V), generator=torch.Generator().manual_seed(instance.seed))
        return {"W": W.to(instance.dtype)}, {"xs": xs, "ys": ys, "N": instance.N, "V": instance.V, "reg": instance.reg}


BIGRAM = BigramExercise(
    key="bigram",
    title="The bigram net: backprop through its loss by hand",
    task=("makemore part 1 trains a bigram model as a one-layer net: a one-hot character times W gives "
          "logits, softmax gives the next character's probabilities, and the loss is their mean negative "
          "log-likelihood plus a regularizer, reg times the mean of W squared. The lecture calls "
          "loss.backward(); compute every gradient it computes yourself, from dlogprobs back to dW."),
    gradients=(
        Gradient("dlogprobs", "loss takes minus the mean of N entries of logprobs, one per row, at "
                 "column ys: every other entry does not affect it at all."),
        Gradient("dprobs", "logprobs = log(probs): the local derivative of log(x) is 1/x; chain it with "
                 "dlogprobs."),
        Gradient("dcounts_sum_inv", "probs = counts * counts_sum_inv copies an (N, 1) column across each "
                 "row: sum what flows back along the dimension it was copied over."),
        Gradient("dcounts_sum", "counts_sum_inv = counts_sum**-1: the power rule."),
        Gradient("dcounts", "counts is used twice, in probs and in counts_sum: add both contributions."),
        Gradient("dlogits", "the derivative of exp(x) is exp(x), which you already have as counts."),
        Gradient("dW", "W is used twice: in logits = xenc @ W, whose gradient is a matrix product that "
                 "must have W's shape (W is square, so check the order), and in the regularizer, a mean "
                 "over all V*V entries of W**2."),
    ),
    instances=(
        BigramInstance("lecture", word="emma"),
        BigramInstance("more bigrams, float64", N=40, seed=7, dtype=torch.float64),
        BigramInstance("other vocabulary", N=23, V=11, reg=0.1, seed=42, dtype=torch.float64),
        BigramInstance("no regularizer", N=16, reg=0.0, seed=3, dtype=torch.float64),
    ),
    forward=FORWARD,
)

PACK = Pack("bigram", "makemore part 1: the bigram model as a neural net", (BIGRAM,),
            reference_files=ReferenceFiles(REFERENCE_FOLDER, {BIGRAM.key: "bigram.py"},
                                           {BIGRAM.key: "mistakes/bigram.py"}))
