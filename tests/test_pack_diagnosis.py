"""What a pack adds to the diagnosis: kinds of mistake and classifiers of its own, factors it names,
and the transposes of tensors of any number of dimensions; on a self-attention head's pack defined
here, whose tensors are (B, T, C) and whose scores are scaled by head_size**-0.5."""
import json
from dataclasses import dataclass, replace
from datetime import datetime, timezone

import pytest
import torch

from backprop_ninja.check import check
from backprop_ninja.engine.exercises.exercise import ForwardExercise, Gradient, Instance
from backprop_ninja.engine.exercises.forward import ForwardPass
from backprop_ninja.engine.judging.diagnosis import Evidence, _name_factor, classify, scale, transpose
from backprop_ninja.engine.judging.instrument import LearnerSource
from backprop_ninja.engine.judging.trials import Trial, truth
from backprop_ninja.engine.reading.cells import Snippet
from backprop_ninja.engine.results.gradebook import Attempt, Gradebook, read_snapshot
from backprop_ninja.engine.results.records import (FAIL, CheckResult, Comparison, Diagnosis, GradientResult,
                                                   InstanceInfo, Kind, PackKind, RootCause)
from backprop_ninja.packs.bigram import BIGRAM
from backprop_ninja.packs.micrograd.slips import ORDER, SEED, SWAPPED
from backprop_ninja.report.summary import summarize


@dataclass(frozen=True)
class Head(Instance):
    B: int = 2  # B**2 is 4, as 1/(head_size**-0.5) is: the name the pack gives it wins
    T: int = 3
    C: int = 5
    head_size: int = 16
    dtype: torch.dtype = torch.float64

    @property
    def n(self) -> int:
        return self.B

    def named_sizes(self) -> dict[str, int]:
        return {"B": self.B, "T": self.T, "C": self.C, "head_size": self.head_size}

    def named_factors(self) -> dict[str, float]:
        return {"head_size**-0.5": self.head_size**-0.5}

    def describe(self) -> str:
        return f"B={self.B}, T={self.T}, C={self.C}, head_size={self.head_size}"


@dataclass(frozen=True)
class Attention(ForwardExercise[Head]):
    def setting(self, head):
        g = torch.Generator().manual_seed(head.seed)
        x, y = (torch.randn(head.B, head.T, head.C, generator=g, dtype=head.dtype) for _ in range(2))
        leaves = {w: torch.randn(head.C, head.head_size, generator=g, dtype=head.dtype) for w in ("Wq", "Wk")}
        return leaves, {"x": x, "y": y, "head_size": head.head_size}


SOFTMAX_SKIPPED = PackKind("softmax-skipped")


def softmax_skipped(ev: Evidence) -> Diagnosis | None:
    """The pack's own kind: dwei written as datt, as if softmax were not there."""
    if ev.gradient.name == "dwei" and ev.close(ev.value, truth(ev.exercise, ev.instance)["datt"]):
        return Diagnosis(SOFTMAX_SKIPPED, "dwei is datt: the gradient goes through softmax's Jacobian")
    return None


ATTENTION = Attention(
    key="attention", title="A self-attention head", task="Backprop through one head's attention.",
    gradients=(Gradient("datt", "out = att @ x"), Gradient("dwei", "softmax over the last dimension"),
               Gradient("dq", "wei = q @ k^T, scaled"), Gradient("dk", "wei = q @ k^T, scaled"),
               Gradient("dWq", "q = x @ Wq, over the batch")),
    instances=(Head("lecture"), Head("bigger", B=3, T=4, C=6, head_size=9, seed=1)),
    forward=ForwardPass("q = x @ Wq\nk = x @ Wk\nwei = q @ k.transpose(1, 2) * head_size**-0.5\n"
                        "att = F.softmax(wei, dim=-1)\nout = att @ x\nloss = (out * y).sum()\n", ("Wq", "Wk")),
    classifiers=(softmax_skipped,),
)
RIGHT = """\
datt = y @ x.transpose(1, 2)
dwei = att * (datt - (att * datt).sum(-1, keepdim=True))
dq = dwei @ k * head_size**-0.5
dk = dwei.transpose(1, 2) @ q * head_size**-0.5
dWq = (x.transpose(1, 2) @ dq).sum(0)
"""


def evidence(name: str, value: torch.Tensor, code: str = "", exercise: Attention = ATTENTION) -> Evidence:
    """What the diagnosis looks at for `name` answered as `value` on the lecture's instance, built
    here, with no worker: the code is only read (for `axis`), and no variant of it passes."""
    gradient = next(g for g in exercise.followed if g.name == name)
    expected = tuple(truth(exercise, exercise.lecture)[name].shape)
    comparison = Comparison(FAIL, expected, tuple(value.shape), False, False, 1.0)
    source = LearnerSource((Snippet(code or f"{name} = None\n", "attention.py"),), exercise.names)
    return Evidence(gradient, value, Trial((exercise.lecture,), (), {name: (comparison,)}), exercise, source,
                    lambda snippets: False)


def right(name: str) -> torch.Tensor:
    return truth(ATTENTION, ATTENTION.lecture)[name]


@pytest.mark.fast
@pytest.mark.parametrize("dims", [(1, 2), (0, 1), (0, 2)])
def test_a_3d_gradient_with_two_dimensions_swapped_is_a_transpose_that_names_them(dims):
    diagnosis = transpose(evidence("dk", right("dk").transpose(*dims)))
    assert diagnosis.kind == "transpose" and f"dimensions {dims[0]} and {dims[1]} swapped" in diagnosis.message
    assert "dk must have k's shape (2, 3, 16)" in diagnosis.message
    assert transpose(evidence("dk", 2 * right("dk"))) is None


@pytest.mark.fast
def test_a_2d_transpose_says_what_it_always_said():
    assert transpose(evidence("dWq", right("dWq").T)) == Diagnosis(
        Kind.TRANSPOSE, "the transpose of the right answer: dWq must have Wq's shape (5, 16); swap the operands "
        "of the matrix product (and their transposes)")


@pytest.mark.fast
def test_a_factor_the_instance_names_is_said_by_its_name_and_so_is_its_inverse():
    assert ATTENTION.lecture.named_factors() == {"head_size**-0.5": 0.25} and BIGRAM.lecture.named_factors() == {}
    assert scale(evidence("dq", right("dq") * 0.25)).message == "the right answer times head_size**-0.5 (0.25)"
    assert scale(evidence("dq", right("dq") * 4)).message == "the right answer times 1/(head_size**-0.5) (4)"
    assert scale(evidence("dq", right("dq") * -0.25)).message == "the right answer times -head_size**-0.5 (-0.25)"
    assert scale(evidence("dq", right("dq") * 2)).message == "the right answer times B (2)"
    # With no names of its own, a factor is named as it always was.
    assert [_name_factor(f, 32, "n", {}) for f in (0.25, 4, 1 / 32, 0.3)] == ["1/4", "4", "1/n (0.03125)", None]
    assert _name_factor(3.0, 32, "n", {"scale": 1 / 3}) == "1/scale (3)"


@pytest.mark.fast
def test_a_pack_s_classifier_is_tried_after_the_engine_s_own():
    assert classify(evidence("dwei", right("datt"), "dwei = datt\n")).kind is SOFTMAX_SKIPPED
    assert classify(evidence("dq", right("dq") + 1, "dq = dwei @ k + 1\n")).kind is Kind.LOCAL
    greedy = replace(ATTENTION, classifiers=(lambda ev: Diagnosis(PackKind("anything"), "whatever it is"),))
    assert classify(evidence("dwei", -right("dwei"), "dwei = -datt\n", greedy)).kind is Kind.SIGN
    assert classify(evidence("dq", right("dq") + 1, "dq = dwei @ k + 1\n", greedy)).kind == "anything"


@pytest.mark.fast
def test_a_pack_s_kind_is_its_string_in_json_and_comes_back_the_same():
    assert (SWAPPED, ORDER, SEED) == ("swapped", "order", "seed") and ORDER.value == "order"
    assert json.dumps(Diagnosis(ORDER, "m").to_dict()) == '{"kind": "order", "message": "m"}'
    assert json.dumps(Diagnosis(Kind.SIGN, "m").to_dict()) == '{"kind": "sign", "message": "m"}'
    again = Diagnosis.from_dict(json.loads(json.dumps(Diagnosis(ORDER, "m").to_dict())))
    assert again == Diagnosis(ORDER, "m") and isinstance(again.kind, PackKind)
    unknown = Diagnosis.from_dict({"kind": "of-a-pack-not-installed", "message": "m"})
    assert unknown.kind == "of-a-pack-not-installed" and unknown.kind.value == "of-a-pack-not-installed"
    assert Diagnosis.from_dict({"kind": "sign", "message": "m"}).kind is Kind.SIGN
    assert Diagnosis("sign", "m").kind is Kind.SIGN and Diagnosis("order", "m").kind.value == "order"
    with pytest.raises(ValueError, match="the engine's own kind"):
        PackKind("sign")


@pytest.mark.fast
def test_the_engine_s_kinds_keep_their_strings():
    assert [kind.value for kind in Kind] == [
        "shape", "transpose", "wrong-axis", "sign", "scale", "missing-branch", "hard-coded-size", "duplicate-index",
        "autograd-used", "raised", "grads-list", "local", "shape-note", "inherited"]


@pytest.mark.fast
def test_a_pack_s_kind_goes_through_the_gradebook_and_into_the_report(tmp_path):
    order = Diagnosis(ORDER, "backward() runs some node's _backward more than once")
    backward = GradientResult("backward", FAIL, (), (), False, False, 1.0, "", "a hint",
                              (Comparison(FAIL, ()),), FAIL, order)
    result = CheckResult("micrograd", "value.py", (backward,), (InstanceInfo("lecture", "seed 0"),),
                         root=RootCause("backward", order, "a hint", graded=True))
    with Gradebook(tmp_path / "book.db") as book:
        book.store(Attempt("ada", "value.py", "ada", datetime(2026, 10, 1, tzinfo=timezone.utc), (result,)), "0")
        [(_, _, stored)] = book.results()
    assert stored == result and isinstance(stored.root.diagnosis.kind, PackKind)
    report = summarize(read_snapshot(tmp_path / "book.db"))
    assert report.difficulty[0].kinds == (("order", 1),) and report.learners[0].latest["micrograd"].kind == "order"


def answer(old: str, new: str) -> str:
    assert RIGHT.count(old) == 1, old
    return RIGHT.replace(old, new)


def test_a_pack_s_transposes_factors_and_kinds_end_to_end():
    assert check(ATTENTION, (Snippet(RIGHT, "attention.py"),)).passed
    transposed = check(ATTENTION, (Snippet(answer("dk = dwei.transpose(1, 2) @ q", "dk = q.transpose(1, 2) @ dwei"),
                                           "attention.py"),))
    assert (transposed.root_cause, transposed.root.diagnosis.kind) == ("dk", "transpose")
    assert "dimensions 1 and 2 swapped" in transposed.root.diagnosis.message
    unscaled = check(ATTENTION, (Snippet(answer("dq = dwei @ k * head_size**-0.5", "dq = dwei @ k"), "attention.py"),))
    assert (unscaled.root_cause, unscaled.root.diagnosis.kind) == ("dq", "scale")
    assert unscaled.root.diagnosis.message == "the right answer times 1/(head_size**-0.5) (4)"
    skipped = check(ATTENTION, (Snippet(answer("att * (datt - (att * datt).sum(-1, keepdim=True))", "datt"),
                                        "attention.py"),))
    printed = json.loads(json.dumps(skipped.to_dict()))
    assert printed["root_cause"] == "dwei" and printed["root_diagnosis"]["kind"] == "softmax-skipped"
    assert {g["name"]: g["diagnosis"]["kind"] for g in printed["gradients"] if g["diagnosis"]} == {
        "dwei": "softmax-skipped", "dq": "inherited", "dk": "inherited", "dWq": "inherited"}
    assert CheckResult.from_dict(printed) == skipped
