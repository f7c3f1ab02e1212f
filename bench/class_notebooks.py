"""A class's notebooks, written the lecture's way and runnable top to bottom: the yardstick for
`ninja grade`, which grades them without running them, against nbclient, which runs them (as
nbgrader and otter-grader do).

`python bench/class_notebooks.py FOLDER COUNT` writes COUNT notebooks and the names.txt they read
(the built-in corpus); `python bench/class_notebooks.py --execute FOLDER JOBS` runs every notebook in
FOLDER with nbclient, JOBS at a time. Every fifth learner gets exercise 1 wrong, every seventh
exercise 4: a class is not all right answers.
"""
from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor
from importlib import resources
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from backprop_ninja.packs.makemore.model import EXPANDED

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import lecture_notebooks as lecture  # noqa: E402  the tests' lecture-format cells, made runnable here

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
# The lecture's 200,000 steps, cut so that running the notebook is not absurd.
STEPS = 2000


def _answer(key: str) -> str:
    return (REFERENCE / f"{key}.py").read_text().split('"""', 2)[2].strip() + "\n"


SETUP = [
    "import random\nimport torch\nimport torch.nn.functional as F",
    "words = open('names.txt', 'r').read().splitlines()\nprint(len(words))\nprint(max(len(w) for w in words))",
    "chars = sorted(list(set(''.join(words))))\nstoi = {s: i + 1 for i, s in enumerate(chars)}\nstoi['.'] = 0\n"
    "itos = {i: s for s, i in stoi.items()}\nvocab_size = len(itos)\nprint(vocab_size)",
    "block_size = 3\n\ndef build_dataset(words):\n    X, Y = [], []\n    for w in words:\n"
    "        context = [0] * block_size\n        for ch in w + '.':\n            ix = stoi[ch]\n"
    "            X.append(context)\n            Y.append(ix)\n            context = context[1:] + [ix]\n"
    "    X = torch.tensor(X)\n    Y = torch.tensor(Y)\n    print(X.shape, Y.shape)\n    return X, Y\n\n"
    "random.seed(42)\nrandom.shuffle(words)\nn1 = int(0.8 * len(words))\nn2 = int(0.9 * len(words))\n"
    "Xtr, Ytr = build_dataset(words[:n1])\nXdev, Ydev = build_dataset(words[n1:n2])\n"
    "Xte, Yte = build_dataset(words[n2:])",
    "def cmp(s, dt, t):\n    ex = torch.all(dt == t.grad).item()\n    app = torch.allclose(dt, t.grad)\n"
    "    maxdiff = (dt - t.grad).abs().max().item()\n"
    "    print(f'{s:15s} | exact: {str(ex):5s} | approximate: {str(app):5s} | maxdiff: {maxdiff}')",
]


def _parameters(n_hidden: int) -> str:
    return (f"n_embd = 10\nn_hidden = {n_hidden}\ng = torch.Generator().manual_seed(2147483647)\n"
            "C = torch.randn((vocab_size, n_embd), generator=g)\n"
            "W1 = torch.randn((n_embd * block_size, n_hidden), generator=g) * (5/3)/((n_embd * block_size)**0.5)\n"
            "b1 = torch.randn(n_hidden, generator=g) * 0.1\n"
            "W2 = torch.randn((n_hidden, vocab_size), generator=g) * 0.1\n"
            "b2 = torch.randn(vocab_size, generator=g) * 0.1\n"
            "bngain = torch.randn((1, n_hidden)) * 0.1 + 1.0\nbnbias = torch.randn((1, n_hidden)) * 0.1\n"
            "parameters = [C, W1, b1, W2, b2, bngain, bnbias]\nprint(sum(p.nelement() for p in parameters))\n"
            "for p in parameters:\n    p.requires_grad = True")


FORWARD = [
    _parameters(64),
    "batch_size = 32\nn = batch_size\nix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)\n"
    "Xb, Yb = Xtr[ix], Ytr[ix]",
    EXPANDED.source + "for p in parameters:\n    p.grad = None\n"
    "for t in [logprobs, probs, counts, counts_sum, counts_sum_inv, norm_logits, logit_maxes, logits, h, hpreact,\n"
    "          bnraw, bnvar_inv, bnvar, bndiff2, bndiff, hprebn, bnmeani, embcat, emb]:\n"
    "    t.retain_grad()\nloss.backward()\nloss",
]

def ex4_cells(backward: str) -> list[str]:
    """The parameters again, at the lecture's 200 hidden units; the training loop with the
    backward inside; batchnorm calibrated and the split losses."""
    evaluate = ("with torch.no_grad():\n  emb = C[Xtr]\n  embcat = emb.view(emb.shape[0], -1)\n"
                "  hpreact = embcat @ W1 + b1\n  bnmean = hpreact.mean(0, keepdim=True)\n"
                "  bnvar = hpreact.var(0, keepdim=True, unbiased=True)\n\n"
                "@torch.no_grad()\ndef split_loss(split):\n  x, y = {'train': (Xtr, Ytr), 'val': (Xdev, Ydev)}[split]\n"
                "  emb = C[x]\n  embcat = emb.view(emb.shape[0], -1)\n  hpreact = embcat @ W1 + b1\n"
                "  hpreact = bngain * (hpreact - bnmean) * (bnvar + 1e-5)**-0.5 + bnbias\n"
                "  h = torch.tanh(hpreact)\n  logits = h @ W2 + b2\n  loss = F.cross_entropy(logits, y)\n"
                "  print(split, loss.item())\n\nsplit_loss('train')\nsplit_loss('val')")
    return [_parameters(200) + "\nbatch_size = 32\nn = batch_size", lecture.ex4_cell(backward, STEPS), evaluate]


def learner_notebook(index: int) -> str:
    ex1 = _answer("ex1")
    if index % 5 == 4:
        ex1 = ex1.replace("(-dbndiff).sum(0)", "dbndiff.sum(0)")
    ex4 = _answer("ex4")
    if index % 7 == 6:
        ex4 = ex4.replace("dW2 = h.T @ dlogits", "dW2 = 0.5 * (h.T @ dlogits)")
    cells = [*SETUP, *FORWARD, lecture.ex1_cell(ex1), *lecture.ex2_cells(), *lecture.ex3_cells(), *ex4_cells(ex4)]
    return nbformat.writes(new_notebook(cells=[new_markdown_cell("# makemore: becoming a backprop ninja"),
                                               *(new_code_cell(c) for c in cells)]))


def write_class(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "names.txt").write_text(resources.files("backprop_ninja").joinpath("data/babynames.txt").read_text())
    paths = []
    for i in range(count):
        paths.append(folder / f"learner{i:03d}.ipynb")
        paths[-1].write_text(learner_notebook(i))
    return paths


def _execute(path: Path) -> None:
    from nbclient import NotebookClient

    notebook = nbformat.read(str(path), as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()


def execute_class(folder: Path, jobs: int) -> None:
    """Run every notebook in `folder` top to bottom, `jobs` kernels at a time."""
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(_execute, sorted(folder.glob("*.ipynb"))))


if __name__ == "__main__":
    if sys.argv[1] == "--execute":
        execute_class(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        write_class(Path(sys.argv[1]), int(sys.argv[2]))
