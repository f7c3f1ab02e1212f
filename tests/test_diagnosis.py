"""The diagnosis, judged on a corpus of single-mistake submissions: each is a reference solution with
one realistic mistake, for which the check must name the right root cause and the right kind; and
correct variants, which must pass with no root cause."""
import pytest
from conftest import REFERENCE

from backprop_ninja.check import check
from backprop_ninja.check.render import render
from backprop_ninja.engine.reading import Snippet
from backprop_ninja.packs.makemore4.exercises import EXERCISES

LOOP = """for k in range(Xb.shape[0]):
    for j in range(Xb.shape[1]):
        ix = Xb[k, j]
        dC[ix] += demb[k, j]
"""

# (case, exercise, [(old, new), ...], root cause, kind, words the message must contain)
MISTAKES = [
    ("sign of dlogprobs", "ex1", [("= -1.0 / n", "= 1.0 / n")], "dlogprobs", "sign", "negated"),
    ("forgot the mean's 1/n", "ex1", [("= -1.0 / n", "= -1.0")], "dlogprobs", "scale", "n (32)"),
    ("forgot += into dcounts", "ex1", [("dcounts += torch.ones_like(counts) * dcounts_sum\n", "")],
     "dcounts", "missing-branch", "through counts_sum"),
    ("forgot += into dbndiff", "ex1", [("dbndiff += (2 * bndiff) * dbndiff2\n", "")],
     "dbndiff", "missing-branch", "through bndiff2"),
    ("forgot += into dhprebn", "ex1", [("dhprebn += 1.0 / n * (torch.ones_like(hprebn) * dbnmeani)\n", "")],
     "dhprebn", "missing-branch", "through bnmeani"),
    ("= for += in dcounts", "ex1", [("dcounts += torch.ones_like(counts)", "dcounts = torch.ones_like(counts)")],
     "dcounts", "missing-branch", "through probs is missing: line 9 writes dcounts with `=`, which throws away "
     "what line 7 put there"),
    ("= for += in dbndiff", "ex1", [("dbndiff += (2 * bndiff)", "dbndiff = (2 * bndiff)")],
     "dbndiff", "missing-branch", "through bnraw is missing: line 25 writes dbndiff with `=`"),
    ("= for += in dhprebn", "ex1", [("dhprebn += 1.0 / n", "dhprebn = 1.0 / n")],
     "dhprebn", "missing-branch", "through bndiff is missing: line 28 writes dhprebn with `=`"),
    ("= for += in dlogits", "ex1", [("dlogits += F.one_hot", "dlogits = F.one_hot")],
     "dlogits", "missing-branch", "through norm_logits is missing: line 13 writes dlogits with `=`"),
    ("1/n**3 for 1/n", "ex1", [("= -1.0 / n", "= -1.0 / n**3")], "dlogprobs", "scale", "1/n**2 (0.0009766)"),
    ("no keepdim in dcounts_sum_inv", "ex1", [("(counts * dprobs).sum(1, keepdim=True)", "(counts * dprobs).sum(1)")],
     "dcounts_sum_inv", "shape", "keepdim=True"),
    ("dcounts_sum_inv summed over dim 0", "ex1",
     [("(counts * dprobs).sum(1, keepdim=True)", "(counts * dprobs).sum(0, keepdim=True)")],
     "dcounts_sum_inv", "wrong-axis", "dim 1"),
    ("dbnbias summed over dim 1", "ex1", [("dhpreact.sum(0, keepdim=True)", "dhpreact.sum(1, keepdim=True)")],
     "dbnbias", "wrong-axis", "dim 0"),
    ("dlogit_maxes summed over dim 0", "ex1",
     [("(-dnorm_logits).sum(1, keepdim=True)", "(-dnorm_logits).sum(0, keepdim=True)")],
     "dlogit_maxes", "wrong-axis", "dim 1"),
    ("dW2 transposed", "ex1", [("dW2 = h.T @ dlogits", "dW2 = dlogits.T @ h")], "dW2", "transpose", "W2's shape (64, 27)"),
    ("dW1 transposed", "ex1", [("dW1 = embcat.T @ dhprebn", "dW1 = dhprebn.T @ embcat")], "dW1", "transpose", "W1's shape (30, 64)"),
    ("Bessel's n-1 as n", "ex1", [("(1.0 / (n - 1))", "(1.0 / n)")], "dbndiff2", "scale", "(n-1)/n"),
    ("power rule without the 1/2", "ex1", [("(-0.5 * (bnvar", "(-1.0 * (bnvar")], "dbnvar", "scale", "2"),
    ("dbnmeani without the minus", "ex1", [("(-dbndiff).sum(0)", "dbndiff.sum(0)")], "dbnmeani", "sign", "negated"),
    ("dcounts_sum without the minus", "ex1", [("(-counts_sum**-2)", "(counts_sum**-2)")], "dcounts_sum", "sign", "negated"),
    ("1/32 for 1/n", "ex1", [("= -1.0 / n", "= -1.0 / 32")], "dlogprobs", "hard-coded-size", "32"),
    ("1/31 for 1/(n-1)", "ex1", [("(1.0 / (n - 1))", "(1.0 / 31)")], "dbndiff2", "hard-coded-size", "31"),
    ("27 classes", "ex1", [("num_classes=logits.shape[1]", "num_classes=27")], "dlogits", "hard-coded-size", "27"),
    ("1/32 in dhprebn", "ex1", [("dhprebn += 1.0 / n *", "dhprebn += 1.0 / 32 *")], "dhprebn", "hard-coded-size", "32"),
    ("dC[Xb] += demb", "ex1", [(LOOP, "dC[Xb] += demb\n")], "dC", "duplicate-index", "index_add_"),
    ("flat dC[...] += demb", "ex1", [(LOOP, "dC[Xb.view(-1)] += demb.view(-1, demb.shape[2])\n")],
     "dC", "duplicate-index", "an indexed `+=` over all of Xb at once"),
    ("db1 summed to a scalar", "ex1", [("db1 = dhprebn.sum(0)", "db1 = dhprebn.sum()")], "db1", "shape", "scalar"),
    ("demb left flat", "ex1", [("demb = dembcat.view(emb.shape)", "demb = dembcat")], "demb", "shape", "view it as"),
    ("matmul for a broadcast product", "ex1", [("dcounts = counts_sum_inv * dprobs", "dcounts = counts_sum_inv @ dprobs")],
     "dcounts", "raised", "counts_sum_inv (32, 1)"),
    ("a typo", "ex1", [("dprobs = (1.0 / probs)", "dprobs = (1.0 / prob)")], "dprobs", "raised", "NameError"),
    ("copied .grad", "ex1", [("dlogprobs = torch.zeros_like(logprobs)", "dlogprobs = logprobs.grad")],
     "dlogprobs", "autograd-used", ".grad"),
    ("probs for 1/probs", "ex1", [("dprobs = (1.0 / probs) * dlogprobs", "dprobs = probs * dlogprobs")],
     "dprobs", "local", "wrong even from right inputs"),
    ("tanh derivative as 1 - h", "ex1", [("(1.0 - h**2)", "(1.0 - h)")], "dhpreact", "local", "wrong even from right inputs"),
    ("db2 summed over dim 1", "ex1", [("db2 = dlogits.sum(0)", "db2 = dlogits.sum(1)")], "db2", "wrong-axis", "dim 0"),
    ("dh without the transpose", "ex1", [("dh = dlogits @ W2.T", "dh = dlogits @ W2")], "dh", "raised",
     "W2 (64, 27)"),
    ("dC[ix] = instead of +=", "ex1", [("dC[ix] += demb[k, j]", "dC[ix] = demb[k, j]")], "dC", "duplicate-index",
     "`=` in a loop (line 37, `dC[ix] = demb[k, j]`) keeps only the last contribution"),
    ("exp's derivative forgotten", "ex1", [("dnorm_logits = counts * dcounts", "dnorm_logits = dcounts.clone()")],
     "dnorm_logits", "local", "wrong even from right inputs"),
    ("ex2 without the mean's 1/n", "ex2", [("dlogits /= n\n", "")], "dlogits", "scale", "n (32)"),
    ("ex2 softmax over dim 0", "ex2", [("F.softmax(logits, 1)", "F.softmax(logits, 0)")], "dlogits", "wrong-axis", "dim 1"),
    ("ex2 divided by 32", "ex2", [("dlogits /= n", "dlogits /= 32")], "dlogits", "hard-coded-size", "32"),
    ("ex2 plus one at the label", "ex2", [("-= 1", "+= 1")], "dlogits", "local", "wrong even from right inputs"),
    ("ex3 over 32", "ex3", [("bngain * bnvar_inv / n", "bngain * bnvar_inv / 32")], "dhprebn", "hard-coded-size", "32"),
    ("ex3 negated", "ex3", [("bngain * bnvar_inv / n", "-bngain * bnvar_inv / n")], "dhprebn", "sign", "negated"),
    ("ex3 sum over dim 1", "ex3", [("n * dhpreact - dhpreact.sum(0)", "n * dhpreact - dhpreact.sum(1, keepdim=True)")],
     "dhprebn", "wrong-axis", "dim 0"),
    ("ex3 without Bessel", "ex3", [("n / (n - 1) * ", "")], "dhprebn", "local", "wrong even from right inputs"),
    ("ex3 with autograd", "ex3", [("dhprebn = ", "hprebn.requires_grad_()\ndhprebn = torch.autograd.grad(hprebn.sum(), hprebn)[0]\ndhprebn = ")],
     "dhprebn", "autograd-used", "line 4 reaches for autograd (torch.autograd)"),
]

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
    kinds = {case[4] for case in MISTAKES}
    assert len(MISTAKES) >= 25
    assert kinds >= {"shape", "transpose", "wrong-axis", "sign", "scale", "missing-branch", "hard-coded-size",
                     "duplicate-index", "autograd-used", "raised", "local"}


@pytest.mark.parametrize("case, key, edits, root, kind, words", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_single_mistake_is_named_with_its_kind(case, key, edits, root, kind, words):
    result = check(EXERCISES[key], (Snippet(mutated(key, edits), f"{key}.py"),))
    assert not result.passed
    assert result.root_cause == root
    diagnosis = {g.name: g for g in result.gradients}[root].diagnosis
    assert diagnosis.kind == kind, diagnosis.message
    assert words in diagnosis.message
    names = list(EXERCISES[key].names)
    for g in result.gradients[: names.index(root)]:
        assert g.local_status in ("pass", None), f"{g.name} before the root cause"


@pytest.mark.parametrize("case, key, edits", CORRECT, ids=[c[0] for c in CORRECT])
def test_correct_variant_passes(case, key, edits):
    result = check(EXERCISES[key], (Snippet(mutated(key, edits), f"{key}.py"),))
    assert result.passed, [(g.name, g.note) for g in result.gradients if g.status != "pass"]
    assert result.root_cause is None


def test_errors_after_the_root_cause_say_they_inherit_it():
    result = check(EXERCISES["ex1"], (Snippet(mutated("ex1", MISTAKES[2][2]), "ex1.py"),))
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
    for case in MISTAKES:
        result = check(EXERCISES[case[1]], (Snippet(mutated(case[1], case[2]), f"{case[1]}.py"),))
        assert "about" not in result.root.diagnosis.message, case[0]
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
