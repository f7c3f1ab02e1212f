"""The data pipeline reproduces the lecture's, checked against the lecture's own code on a file we make."""
import random

import pytest
import torch

from backprop_ninja.packs.makemore import data

pytestmark = pytest.mark.fast  # pure pieces: the fast tier


def lecture_pipeline(words, block_size=3):
    """The lecture's code, as written there: the oracle."""
    chars = sorted(list(set("".join(words))))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0

    def build_dataset(words):
        X, Y = [], []
        for w in words:
            context = [0] * block_size
            for ch in w + ".":
                ix = stoi[ch]
                X.append(context)
                Y.append(ix)
                context = context[1:] + [ix]
        return torch.tensor(X), torch.tensor(Y)

    words = list(words)
    random.seed(42)
    random.shuffle(words)
    n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))
    return stoi, [build_dataset(words[:n1]), build_dataset(words[n1:n2]), build_dataset(words[n2:])]


@pytest.fixture
def words_file(tmp_path):
    rng = random.Random(0)
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(2, 9))) for _ in range(997)]
    words[:26] = list(alphabet)  # every letter present, so the lecture's vocabulary is the full one
    path = tmp_path / "words.txt"
    path.write_text("\n".join(words) + "\n")
    return path, words


@pytest.mark.parametrize("block_size", [1, 3, 5])
def test_split_matches_the_lectures_code_exactly(words_file, block_size):
    path, words = words_file
    stoi, expected = lecture_pipeline(words, block_size)
    assert stoi == data.STOI and data.VOCAB_SIZE == 27
    splits = data.split(data.read_words(path), block_size)
    for (X, Y), (eX, eY) in zip((splits.train, splits.val, splits.test), expected):
        assert torch.equal(X, eX) and torch.equal(Y, eY)
    sizes = [len(s[1]) for s in (splits.train, splits.val, splits.test)]
    assert sizes == [len(Y) for _, Y in expected] and sum(sizes) == sum(len(w) + 1 for w in words)


def test_built_in_corpus_is_shipped_and_clean():
    words = data.read_words()
    assert len(words) == 29_910 and words[:3] == ["emma", "liam", "olivia"]
    assert all(set(w) <= set(data.ITOS[1:]) for w in words) and len(set(words)) == len(words)


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("", "no words in it"),
    ("\n\n", "no words in it"),
    ("emma\nZoë\n", "line 2: 'Zoë' has characters outside a-z"),
    ("emma\nanne marie\n", "characters outside a-z: ' '"),
])
def test_bad_words_files_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "words.txt"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(data.DataError, match=message):
        data.read_words(path)
