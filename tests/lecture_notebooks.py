"""Notebooks written the way the lecture writes them, for the tests: the data cells, a `cmp`
helper, the forward pass, one cell per exercise with the checks beside the answers, and the
training loop with the backward pass inside it. No tags anywhere."""
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from backprop_ninja.packs.makemore.model import EXPANDED

REFERENCE = Path(__file__).resolve().parents[1] / "reference"

SETUP = [
    "import torch\nimport torch.nn.functional as F\nimport matplotlib.pyplot as plt\n%matplotlib inline",
    "words = open('names.txt', 'r').read().splitlines()\nprint(len(words))",
    "chars = sorted(set(''.join(words)))\nstoi = {s: i + 1 for i, s in enumerate(chars)}\nstoi['.'] = 0\n"
    "itos = {i: s for s, i in stoi.items()}\nvocab_size = len(itos)",
    "def cmp(s, dt, t):\n    ex = torch.all(dt == t.grad).item()\n    app = torch.allclose(dt, t.grad)\n"
    "    maxdiff = (dt - t.grad).abs().max().item()\n    print(f'{s:15s} | {ex} | {app} | {maxdiff}')",
    "n_embd, n_hidden, block_size = 10, 64, 3\ng = torch.Generator().manual_seed(2147483647)\n"
    "C = torch.randn((vocab_size, n_embd), generator=g)\n# ... the other parameters\n"
    "parameters = [C, W1, b1, W2, b2, bngain, bnbias]",
    "batch_size = 32\nn = batch_size\nix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)\n"
    "Xb, Yb = Xtr[ix], Ytr[ix]",
    EXPANDED.source + "for t in [logprobs, probs, counts]:\n    t.retain_grad()\nloss.backward()\nloss",
]


def checks(names: list[str]) -> str:
    return "\n".join(f"cmp('{name[1:]}', {name}, {name[1:]})" for name in names)


def ex1_cell(source: str | None = None) -> str:
    answer = source or (REFERENCE / "ex1.py").read_text().split('"""', 2)[2]
    names = ["dlogprobs", "dprobs", "dcounts", "dh", "dW1", "dC"]
    return "# Exercise 1: every gradient by hand\n" + answer + "\n" + checks(names) + "\n"


def ex2_cells(source: str | None = None) -> list[str]:
    answer = source or (REFERENCE / "ex2.py").read_text().split('"""', 2)[2]
    return ["# Exercise 2, the forward pass in one go\nloss_fast = F.cross_entropy(logits, Yb)\n"
            "print(loss_fast.item(), 'diff:', (loss_fast - loss).item())",
            "# backward\n" + answer + "\ncmp('logits', dlogits, logits)\n"]


def ex3_cells(source: str | None = None) -> list[str]:
    answer = source or (REFERENCE / "ex3.py").read_text().split('"""', 2)[2]
    return ["# Exercise 3, batchnorm's forward pass in one go\nhpreact_fast = bngain * (hprebn - "
            "hprebn.mean(0, keepdim=True)) / torch.sqrt(hprebn.var(0, keepdim=True) + 1e-5) + bnbias\n"
            "print('max diff:', (hpreact_fast - hpreact).abs().max())",
            "# backward\n" + answer + "cmp('hprebn', dhprebn, hprebn)\n"]


def ex4_cell(source: str | None = None, steps: int = 200_000) -> str:
    backward = source or (REFERENCE / "ex4.py").read_text().split('"""', 2)[2]
    return (f"# Exercise 4: train with the backward pass above\nmax_steps = {steps}\nlossi = []\n"
            "with torch.no_grad():\n"
            "  for i in range(max_steps):\n"
            "    ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)\n"
            "    Xb, Yb = Xtr[ix], Ytr[ix]\n"
            "    emb = C[Xb]\n    embcat = emb.view(emb.shape[0], -1)\n    hprebn = embcat @ W1 + b1\n"
            "    bnmean = hprebn.mean(0, keepdim=True)\n    bnvar = hprebn.var(0, keepdim=True, unbiased=True)\n"
            "    bnvar_inv = (bnvar + 1e-5)**-0.5\n    bnraw = (hprebn - bnmean) * bnvar_inv\n"
            "    hpreact = bngain * bnraw + bnbias\n    h = torch.tanh(hpreact)\n    logits = h @ W2 + b2\n"
            "    loss = F.cross_entropy(logits, Yb)\n"
            "    for p in parameters:\n      p.grad = None\n"
            "    #loss.backward()  # for comparisons\n"
            "    # manual backprop\n"
            + textwrap.indent(backward.strip() + "\n", "    ") +
            "    lr = 0.1 if i < 100000 else 0.01\n"
            "    for p, grad in zip(parameters, grads):\n      p.data += -lr * grad\n"
            "    if i % 10000 == 0:\n      print(f'{i:7d}/{max_steps:7d}: {loss.item():.4f}')\n"
            "    lossi.append(loss.log10().item())\n")


def notebook(cells: list[str], counts: list[int] | None = None, outputs: bool = False) -> str:
    """A notebook of these code cells (after a title), executed in order unless `counts` says otherwise."""
    counts = counts or list(range(1, len(cells) + 1))
    code = []
    for source, count in zip(cells, counts):
        cell = new_code_cell(source, execution_count=count)
        if outputs:
            cell.outputs = [new_output("stream", name="stdout", text="logprobs | True | True | 0.0\n"),
                            new_output("error", ename="NameError", evalue="name 'Xtr' is not defined",
                                       traceback=["NameError: name 'Xtr' is not defined"])]
        code.append(cell)
    return nbformat.writes(new_notebook(cells=[new_markdown_cell("## backprop, by hand"), *code]))


def lecture_notebook(ex1: str | None = None, ex2: str | None = None, ex3: str | None = None,
                     ex4: str | None = None, outputs: bool = False) -> str:
    return notebook([*SETUP, ex1_cell(ex1), *ex2_cells(ex2), *ex3_cells(ex3), ex4_cell(ex4)], outputs=outputs)
