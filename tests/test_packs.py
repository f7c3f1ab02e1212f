"""Packs: the bigram pack end to end (its reference passes everywhere, its untouched stub fails
cleanly, and each single mistake of a corpus gets its root cause and kind), the registry of
packs, and a pack that an installed package registers through its entry point."""
import dataclasses
import sys
from importlib.metadata import EntryPoint

import nbformat
import pytest
import torch

from backprop_ninja import packs
from backprop_ninja.check import check
from backprop_ninja.check.stubs import render_ipynb, render_py
from backprop_ninja.engine.submission import Snippet
from backprop_ninja.packs.bigram import BIGRAM, BigramInstance

from conftest import REFERENCE

REFERENCE_BIGRAM = (REFERENCE / "bigram.py").read_text()
MEAN = "dlogprobs[torch.arange(N), ys] = -1.0 / N"
DW = "dW = xenc.T @ dlogits + reg * 2 * W / W.numel()"

# name: (the reference's line, the mistaken one, the root cause, its kind)
MISTAKES = {
    "the mean forgotten": (MEAN, "dlogprobs[torch.arange(N), ys] = -1.0", "dlogprobs", "scale"),
    "the mean's sign": (MEAN, "dlogprobs[torch.arange(N), ys] = 1.0 / N", "dlogprobs", "sign"),
    "N hard-coded": (MEAN, "dlogprobs[torch.arange(N), ys] = -1.0 / 5", "dlogprobs", "hard-coded-size"),
    "log's derivative": ("dprobs = (1.0 / probs) * dlogprobs", "dprobs = probs * dlogprobs", "dprobs", "local"),
    "summed over the batch": ("dcounts_sum_inv = (counts * dprobs).sum(1, keepdim=True)",
                              "dcounts_sum_inv = (counts * dprobs).sum(0, keepdim=True)", "dcounts_sum_inv",
                              "wrong-axis"),
    "the power rule's sign": ("dcounts_sum = (-counts_sum**-2) * dcounts_sum_inv",
                              "dcounts_sum = (counts_sum**-2) * dcounts_sum_inv", "dcounts_sum", "sign"),
    "counts' second use": ("dcounts += torch.ones_like(counts) * dcounts_sum\n", "", "dcounts", "missing-branch"),
    "exp's derivative": ("dlogits = counts * dcounts", "dlogits = dcounts", "dlogits", "local"),
    "dW transposed (W is square)": (DW, f"dW = ({DW[5:]}).T", "dW", "transpose"),
    "the regularizer forgotten": (DW, "dW = xenc.T @ dlogits", "dW", "missing-branch"),
    "the regularizer as a sum": (DW, "dW = xenc.T @ dlogits + reg * 2 * W", "dW", "local"),
    "V*V hard-coded": (DW, "dW = xenc.T @ dlogits + reg * 2 * W / 729", "dW", "hard-coded-size"),
}


def run(source: str, exercise=BIGRAM):
    return check(exercise, (Snippet(source, "bigram.py"),))


def test_the_reference_passes_on_every_instance_and_on_random_ones():
    assert run(REFERENCE_BIGRAM).passed
    generator = torch.Generator().manual_seed(11)
    others = tuple(BigramInstance(f"random {i}", N=int(torch.randint(1, 60, (1,), generator=generator)),
                                  V=int(torch.randint(2, 40, (1,), generator=generator)),
                                  reg=[0.0, 0.01, 0.5][i % 3], seed=100 + i, dtype=torch.float64) for i in range(8))
    result = run(REFERENCE_BIGRAM, dataclasses.replace(BIGRAM, instances=(BIGRAM.lecture, *others)))
    assert result.passed, [g.name for g in result.gradients if g.status != "pass"]


def test_the_untouched_stub_fails_cleanly():
    result = run(render_py(BIGRAM))
    assert not result.passed and not result.errors
    assert {g.status.value for g in result.gradients} == {"missing"}


@pytest.mark.parametrize("case", MISTAKES, ids=list(MISTAKES))
def test_each_mistake_gets_its_root_cause_and_kind(case):
    old, new, root, kind = MISTAKES[case]
    assert REFERENCE_BIGRAM.count(old) == 1
    result = run(REFERENCE_BIGRAM.replace(old, new))
    assert not result.passed
    assert (result.root.name, result.root.diagnosis.kind.value) == (root, kind), result.root.diagnosis.message


def test_the_stub_notebook_tags_one_answer_cell_and_names_the_pack_s_tensors():
    notebook = nbformat.reads(render_ipynb(BIGRAM), as_version=4)
    tagged = [c for c in notebook.cells if "backprop-ninja:bigram" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "dW = None  # like W: (27, 27)" in tagged[0].source
    assert "xs, ys, N, V, reg, the parameters W" in render_py(BIGRAM)


def test_the_command_checks_lists_and_inits_the_pack(ninja, tmp_path):
    code, out, _ = ninja("check", "bigram", REFERENCE / "bigram.py")
    assert code == 0 and "All 7 gradients match autograd on all 4 instances" in out
    code, out, _ = ninja("list")
    assert "bigram: makemore part 1" in out and "makemore4: makemore part 4" in out
    code, _, _ = ninja("init", tmp_path / "work")
    assert (tmp_path / "work" / "bigram.py").read_text() == render_py(BIGRAM)


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A package of a course's own, registering `module:PACK` under the entry-point group."""
    def install(module: str, source: str):
        (tmp_path / f"{module}.py").write_text(source)
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.setattr(packs, "entry_points", lambda group: [EntryPoint("course", f"{module}:PACK", group)])
        packs.packs.cache_clear(), packs.exercises.cache_clear()
    yield install
    packs.packs.cache_clear(), packs.exercises.cache_clear()
    for module in [m for m in sys.modules if m.startswith("course_pack")]:
        del sys.modules[module]


def test_a_pack_an_installed_package_registers_is_found(installed):
    installed("course_pack", "import dataclasses\nfrom backprop_ninja.packs import Pack\n"
                             "from backprop_ninja.packs.bigram import BIGRAM\n"
                             "PACK = Pack('course', 'our course', (dataclasses.replace(BIGRAM, key='bigram2'),))\n")
    assert "course" in packs.packs() and run(REFERENCE_BIGRAM, packs.exercises()["bigram2"]).passed


@pytest.mark.parametrize("source, message", [
    ("PACK = 42\n", "is not a backprop_ninja Pack"),
    ("raise ImportError('no torch here')\n", "cannot be loaded"),
    ("from backprop_ninja.packs import Pack\nfrom backprop_ninja.packs.bigram import BIGRAM\n"
     "PACK = Pack('course', 'ours', (BIGRAM,))\n", "two packs define an exercise 'bigram'"),
])
def test_a_broken_or_clashing_pack_is_a_clear_error(installed, source, message):
    installed("course_pack_bad", source)
    with pytest.raises(packs.PackError, match=message):
        packs.exercises()


def test_the_command_reports_a_broken_pack_without_a_traceback(installed, ninja):
    installed("course_pack_broken", "PACK = 42\n")
    code, out, err = ninja("list")
    assert code == 1 and "is not a backprop_ninja Pack" in err and "Traceback" not in out + err
