"""The diagnosis, judged on the makemore4 pack's corpus of single-mistake submissions (in
reference/mistakes/): each is a reference solution with one realistic mistake, for which the check
must name the right root cause, the right kind and say the declared words; and correct variants,
which must pass with no root cause."""
import pytest
from conftest import REFERENCE

from backprop_ninja.check import check
from backprop_ninja.check.render import render
from backprop_ninja.engine.reading.cells import Snippet
from backprop_ninja.engine.exercises.registry import pack_named, with_references
from backprop_ninja.packs.makemore4.exercises import EXERCISES

LOOP = """for k in range(Xb.shape[0]):
    for j in range(Xb.shape[1]):
        ix = Xb[k, j]
        dC[ix] += demb[k, j]
"""

# The pack's single-mistake corpus (reference/mistakes/), each with its root cause, kind and words.
MISTAKES = {m.name: m for m in with_references(pack_named("makemore4")).mistakes}

CORRECT = [
    ("dC with index_add_", "ex1", [(LOOP, "dC.index_add_(0, Xb.view(-1), demb.view(-1, demb.shape[-1]))\n")]),
    ("logit_maxes branch dropped", "ex1",
     [("dlogits += F.one_hot(logits.max(1).indices, num_classes=logits.shape[1]) * dlogit_maxes\n", "")]),
    ("dbngain without keepdim", "ex1", [("(bnraw * dhpreact).sum(0, keepdim=True)", "(bnraw * dhpreact).sum(0)")]),
    ("dlogprobs from one_hot", "ex1", [("dlogprobs = torch.zeros_like(logprobs)\ndlogprobs[range(n), Yb] = -1.0 / n\n",
                                        "dlogprobs = -F.one_hot(Yb, logprobs.shape[1]).to(logprobs.dtype) / n\n")]),
    ("tanh recomputed", "ex1", [("(1.0 - h**2)", "(1 - torch.tanh(hpreact)**2)")]),
    ("dC with an explicit index loop", "ex1", [(LOOP, "for i, ix in enumerate(Xb.view(-1).tolist()):\n"
                                                     "    dC[ix] += demb.view(-1, demb.shape[-1])[i]\n")]),
    ("ex2 with one_hot", "ex2", [("dlogits = F.softmax(logits, 1)\ndlogits[range(n), Yb] -= 1\ndlogits /= n\n",
                                  "dlogits = (F.softmax(logits, 1) - F.one_hot(Yb, logits.shape[1])) / n\n")]),
    ("ex3 with keepdim", "ex3", [("dhpreact.sum(0)", "dhpreact.sum(0, keepdim=True)")]),
]


def mutated(key: str, edits) -> str:
    source = (REFERENCE / f"{key}.py").read_text()
    for old, new in edits:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    return source


def test_the_corpus_is_large_and_covers_every_kind():
    kinds = {m.kind for m in MISTAKES.values()}
    assert len(MISTAKES) >= 25
    assert kinds >= {"shape", "transpose", "wrong-axis", "sign", "scale", "missing-branch", "hard-coded-size",
                     "duplicate-index", "autograd-used", "raised", "local"}


@pytest.mark.parametrize("case", MISTAKES, ids=list(MISTAKES))
def test_single_mistake_is_named_with_its_kind(case):
    mistake = MISTAKES[case]
    key = mistake.exercise
    result = check(EXERCISES[key], (Snippet(mistake.source, f"{key}.py"),))
    assert not result.passed
    assert result.root_cause == mistake.root_cause
    diagnosis = {g.name: g for g in result.gradients}[mistake.root_cause].diagnosis
    assert diagnosis.kind == mistake.kind, diagnosis.message
    assert mistake.says and mistake.says in diagnosis.message
    names = list(EXERCISES[key].names)
    for g in result.gradients[: names.index(mistake.root_cause)]:
        assert g.local_status in ("pass", None), f"{g.name} before the root cause"


@pytest.mark.parametrize("case, key, edits", CORRECT, ids=[c[0] for c in CORRECT])
def test_correct_variant_passes(case, key, edits):
    result = check(EXERCISES[key], (Snippet(mutated(key, edits), f"{key}.py"),))
    assert result.passed, [(g.name, g.note) for g in result.gradients if g.status != "pass"]
    assert result.root_cause is None


def test_errors_after_the_root_cause_say_they_inherit_it():
    result = check(EXERCISES["ex1"], (Snippet(MISTAKES["forgot += into dcounts"].source, "ex1.py"),))
    grads = {g.name: g for g in result.gradients}
    assert grads["dcounts"].local_status == "fail" and grads["dnorm_logits"].status == "fail"
    assert grads["dnorm_logits"].local_status == "pass"
    assert grads["dnorm_logits"].diagnosis.kind == "inherited"
    assert grads["dnorm_logits"].diagnosis.message == "inherits the error in dcounts"


ODD = [
    ('dlogprobs = "hello"', "dlogprobs", "local", "of type str"),
    ("dlogprobs = 3", "dlogprobs", "local", "of type int"),
    ('dlogprobs = torch.full_like(logprobs, float("nan"))', "dlogprobs", "local", "nan"),
    ("dlogprobs = torch.zeros_like(logprobs, dtype=torch.complex64)", "dlogprobs", "local", "complex64"),
    ("dlogprobs = torch.zeros_like(logprobs).bool()", "dlogprobs", "local", "bool"),
    ("dlogprobs = torch.zeros(0)", "dlogprobs", "shape", "got (0,)"),
    ("dlogprobs, dprobs = 1", "dlogprobs", "raised", "TypeError"),
    ("import sys\nsys.exit(0)", "dlogprobs", "raised", "SystemExit"),
    ("def f():\n    return 1 / 0\ndlogprobs = f()", "dlogprobs", "raised", "line 2 `return 1 / 0`"),
    ("try:\n    1 / 0\nexcept ZeroDivisionError:\n    pass\ndlogprobs = torch.zeros_like(logprobs)",
     "dlogprobs", "local", "wrong even from right inputs"),
]


@pytest.mark.parametrize("source, root, kind, words", ODD, ids=[o[0].splitlines()[0] for o in ODD])
def test_odd_answers_are_diagnosed_never_crash(source, root, kind, words):
    result = check(EXERCISES["ex1"], (Snippet(source + "\n", "ex1.py"),))
    assert not result.passed
    assert result.root_cause == root and result.root.diagnosis.kind == kind
    assert words in result.root.diagnosis.message


def test_a_factor_is_named_only_when_it_is_a_clean_one():
    for mistake in MISTAKES.values():
        result = check(EXERCISES[mistake.exercise], (Snippet(mistake.source, f"{mistake.exercise}.py"),))
        assert "about" not in result.root.diagnosis.message, mistake.name
    near_zero = mutated("ex1", [("dh = dlogits @ W2.T", "dh = 1e-9 * (dlogits @ W2.T)")])
    result = check(EXERCISES["ex1"], (Snippet(near_zero, "ex1.py"),))
    assert result.root_cause == "dh" and result.root.diagnosis.kind == "local"


def test_reading_an_autograd_attribute_is_not_using_autograd():
    source = (REFERENCE / "ex1.py").read_text() + "print(dh.requires_grad, dh.grad, h.is_leaf)\n"
    assert check(EXERCISES["ex1"], (Snippet(source, "ex1.py"),)).passed


def test_using_autograd_is_said_once_at_its_line():
    source = (REFERENCE / "ex1.py").read_text().replace(
        "dh = dlogits @ W2.T\n", "dh = dlogits @ W2.T\nh.requires_grad_()\n(h * dh).sum().backward()\n")
    result = check(EXERCISES["ex1"], (Snippet(source, "ex1.py"),))
    assert not result.passed and result.root_cause == "autograd"
    report = " ".join(render(result, hints="on").split())
    assert report.count("reaches for autograd") == 1
    assert "line 16 reaches for autograd (.backward())" in report
    assert "Take autograd out first." in report


def test_a_syntax_error_is_reported_as_itself_with_no_root_cause():
    source = (REFERENCE / "ex1.py").read_text().replace("db1 = dhprebn.sum(0)", "db1 = dhprebn.sum(0")
    result = check(EXERCISES["ex1"], (Snippet(source, "ex1.py"),))
    assert not result.passed and result.root is None
    raised = result.errors[0].raised
    assert raised.is_syntax_error and raised.lineno == 31 and raised.gradient == "db1"
    report = " ".join(render(result).split())
    assert "does not parse: a syntax error at ex1.py, line 31, in the line that writes db1" in report
    assert "root cause" not in report and "start with" not in report


def test_not_written_yet_is_not_wrong():
    half_done = "\n".join((REFERENCE / "ex1.py").read_text().splitlines()[:9]) + "\n"
    result = check(EXERCISES["ex1"], (Snippet(half_done, "ex1.py"),))
    assert result.root is None
    report = " ".join(render(result).split())
    assert "5/26 gradients computed so far, all right; next: dnorm_logits." in report
    assert "Fix" not in report and EXERCISES["ex1"].gradients[5].hint.split()[0] in report


def test_a_hard_coded_size_is_the_roots_alone_and_the_gradients_after_it_inherit_it():
    """Every later gradient fails on the other sizes too, but through dlogprobs: one mistake, said once,
    costing one gradient under the steps scoring."""
    from backprop_ninja.engine.results.records import Scoring, whole_percent

    source = (REFERENCE / "ex1.py").read_text().replace("dlogprobs[range(n), Yb] = -1.0 / n",
                                                        "dlogprobs[range(n), Yb] = -1.0 / 32")
    result = check(EXERCISES["ex1"], (Snippet(source, "ex1.py"),))
    assert result.root.name == "dlogprobs" and result.root.diagnosis.kind.value == "hard-coded-size"
    later = [g for g in result.gradients[1:] if g.status != "pass"]
    assert later and all(g.diagnosis.kind.value == "inherited" for g in later)
    assert render(result, "").count("hard-coded-size") == 1
    assert whole_percent(result.score_by(Scoring.STEPS)) == 96
