"""The lecture's data pipeline: words, the 27-character vocabulary, contexts of `block_size`
characters, and the `random.seed(42)` shuffle into an 80/10/10 split."""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from ...engine.exercises.training import DataError

# "." marks the start and the end of a word: it is 0, "a".."z" are 1..26.
ITOS = "." + "abcdefghijklmnopqrstuvwxyz"
STOI = {ch: i for i, ch in enumerate(ITOS)}
_CODES = bytes.maketrans(ITOS.encode("ascii"), bytes(range(len(ITOS))))
VOCAB_SIZE = len(ITOS)
BUILT_IN = "built-in corpus (babynames.txt)"


def read_words(path: Path | None = None) -> list[str]:
    """One word per line, lowercase a-z; the built-in corpus when `path` is None."""
    if path is None:
        text = resources.files("backprop_ninja").joinpath("data/babynames.txt").read_text(encoding="utf-8")
        where = BUILT_IN
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DataError(f"{where}: no such file") from None
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"{where}: cannot read it ({e})") from None
    lines = text.splitlines()
    letters = set(ITOS[1:])
    # The whole text at once; line by line only to say where a character outside a-z is.
    suspect = lines if set(text) - letters - {"\n", "\r"} else []
    for lineno, word in enumerate(suspect, start=1):
        bad = sorted(set(word) - letters)
        if bad:
            raise DataError(f"{where}, line {lineno}: {word!r} has characters outside a-z: "
                            f"{''.join(bad)!r} (the vocabulary is '.' plus lowercase a-z)")
    words = [word for word in lines if word]  # blank lines are not words
    if not words:
        raise DataError(f"{where}: no words in it (expected one word per line)")
    if len(words) < FEWEST_WORDS:
        raise DataError(f"{where}: {len(words)} word{'s' * (len(words) != 1)} cannot be split 80/10/10 "
                        f"with a word in each of train, val and test: give at least {FEWEST_WORDS}")
    return words


def build_dataset(words: list[str], block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every character of every word (and the closing "."), with the `block_size` before it.

    The lecture slides a context along each word in Python; this lays the words out in one row,
    each behind `block_size` dots, and takes every window that ends inside a word: the same
    examples in the same order, built in a fraction of the time."""
    pad = "." * block_size
    text = pad + pad.join(word + "." for word in words) + pad  # the end padding keeps the last window in range
    row = torch.frombuffer(bytearray(text.encode("ascii").translate(_CODES)), dtype=torch.uint8).long()
    targets = torch.tensor([len(word) + 1 for word in words])  # a word's letters and its closing "."
    segments = targets + block_size
    # Word i's windows start where its segment does, and there are targets[i] of them.
    first = torch.repeat_interleave(torch.cumsum(segments, 0) - segments, targets)
    rank = torch.arange(len(first)) - torch.repeat_interleave(torch.cumsum(targets, 0) - targets, targets)
    starts = first + rank
    return row.unfold(0, block_size, 1)[starts], row[starts + block_size]


@dataclass(frozen=True)
class Splits:
    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]


def _parts(count: int) -> tuple[int, int, int]:
    """How many of `count` shuffled words go to train, val and test: the lecture's 80/10/10."""
    n1, n2 = int(0.8 * count), int(0.9 * count)
    return n1, n2 - n1, count - n2


# The fewest words that leave at least one in each of train, val and test.
FEWEST_WORDS = next(count for count in itertools.count(1) if min(_parts(count)) >= 1)


def split(words: list[str], block_size: int = 3) -> Splits:
    """The lecture's split: shuffle with random.seed(42), then 80% train, 10% val, 10% test."""
    words = list(words)
    random.Random(42).shuffle(words)
    n1, n2, _ = itertools.accumulate(_parts(len(words)))
    return Splits(build_dataset(words[:n1], block_size), build_dataset(words[n1:n2], block_size),
                  build_dataset(words[n2:], block_size))


def decode(indices: list[int]) -> str:
    return "".join(ITOS[i] for i in indices)
