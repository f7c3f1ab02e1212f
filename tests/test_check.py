"""The check itself, on real torch: reference solutions pass, stubs fail cleanly, and known-wrong
answers fail for the right reason."""
import dataclasses
import random

import pytest
import torch
from conftest import REFERENCE

from backprop_ninja.check import check
from backprop_ninja.check.stubs import render_py
from backprop_ninja.engine.exercises.exercise import Exercise
from backprop_ninja.engine.reading.cells import Snippet
from backprop_ninja.packs.makemore4.exercises import EXERCISES
from backprop_ninja.packs.makemore.model import Instance

EX1_REFERENCE = (REFERENCE / "ex1.py").read_text()
# Exercise 4 trains as well: tests/test_ex4.py has its own.
ONE_STEP = ["ex1", "ex2", "ex3"]


def run(key: str, source: str, exercise: Exercise | None = None):
    return check(exercise or EXERCISES[key], (Snippet(source, f"{key}.py"),))


def by_name(result):
    return {g.name: g for g in result.gradients}


@pytest.mark.parametrize("key", ONE_STEP)
def test_reference_solution_passes_every_instance(key):
    result = run(key, (REFERENCE / f"{key}.py").read_text())
    assert result.passed and result.score == 1.0 and not result.errors
    for g in result.gradients:
        assert g.status == "pass" and len(g.instances) == 4
        assert all(c.status == "pass" for c in g.instances), g.name


def test_reference_ex1_is_bit_exact_where_the_lectures_is():
    """Down to db2 the lecture's formulas equal autograd bit for bit; from dhpreact on, torch's
    vectorised tanh backward rounds differently, so those are only approximate."""
    grads = by_name(run("ex1", EX1_REFERENCE))
    names = list(grads)
    for name in names[: names.index("dhpreact")]:
        assert grads[name].exact, name
    for name in names[names.index("dhpreact"):]:
        assert grads[name].approximate and grads[name].maxdiff < 1e-8, name


def test_lectures_dbnmeani_shape_passes_with_a_note():
    g = by_name(run("ex1", EX1_REFERENCE))["dbnmeani"]
    assert g.status == "pass" and g.shape == (64,) and g.expected_shape == (1, 64)
    assert "leading 1s" in g.note


def random_instances(count: int, seed: int, lecture: Instance = Instance("lecture"),
                     vary_vocab: bool = True, max_steps: int = 0) -> tuple[Instance, ...]:
    """The lecture's sizes in float32 with other seeds, then random sizes in float64."""
    rng = random.Random(seed)
    lecture_seeds = tuple(dataclasses.replace(lecture, label=f"lecture sizes, seed {s}", seed=s,
                                              steps=rng.randint(0, max_steps))
                          for s in rng.sample(range(10**6), 3))
    others = tuple(
        Instance(f"random {i}", n=rng.randint(2, 70), n_hidden=rng.randint(1, 90), n_embd=rng.randint(1, 12),
                 block_size=rng.randint(1, 5), vocab_size=rng.randint(2, 40) if vary_vocab else 27,
                 seed=rng.randint(0, 10**6), dtype=torch.float64, steps=rng.randint(0, max_steps))
        for i in range(count))
    return lecture_seeds + others


@pytest.mark.parametrize("key", ONE_STEP)
def test_reference_never_fails_on_other_seeds_and_sizes(key):
    """No right answer may ever fail: the lecture's sizes in float32 with other seeds, and random
    sizes in float64, all with the lecture's tolerance."""
    exercise = dataclasses.replace(EXERCISES[key], instances=random_instances(12, seed=5))
    result = run(key, (REFERENCE / f"{key}.py").read_text(), exercise)
    failing = [(g.name, i.label) for g in result.gradients for c, i in zip(g.instances, exercise.instances)
               if c.status != "pass"]
    assert failing == []


@pytest.mark.parametrize("key", ONE_STEP)
def test_untouched_stub_fails_cleanly_as_not_computed(key):
    result = run(key, render_py(EXERCISES[key]))
    assert not result.passed and result.score == 0 and not result.errors
    assert all(g.status == "missing" and g.note == "not computed yet" for g in result.gradients)


def _mutate(old: str, new: str) -> str:
    assert EX1_REFERENCE.count(old) == 1, old
    return EX1_REFERENCE.replace(old, new)


def test_sign_flip_fails_at_that_gradient():
    grads = by_name(run("ex1", _mutate("dlogprobs[range(n), Yb] = -1.0 / n", "dlogprobs[range(n), Yb] = 1.0 / n")))
    assert grads["dlogprobs"].status == "fail" and grads["dlogprobs"].approximate is False


def test_missing_accumulation_fails_dcounts_but_not_what_comes_before():
    grads = by_name(run("ex1", _mutate("dcounts += torch.ones_like(counts) * dcounts_sum\n", "")))
    assert grads["dcounts"].status == "fail"
    assert all(grads[name].status == "pass" for name in ("dlogprobs", "dprobs", "dcounts_sum_inv", "dcounts_sum"))


def test_hard_coded_batch_size_fails_though_right_on_the_lectures_batch():
    grads = by_name(run("ex1", _mutate("= -1.0 / n", "= -1.0 / 32")))
    g = grads["dlogprobs"]
    assert g.status == "fail" and g.exact is True, "right on the lecture's instance, wrong elsewhere"
    assert "right on the lecture's instance, but not with n=7" in g.note
    assert g.diagnosis.kind == "hard-coded-size" and "32 on line 4 (use n)" in g.diagnosis.message


def test_hard_coded_size_that_raises_elsewhere_reports_the_raise():
    source = _mutate("dlogprobs[range(n), Yb]", "dlogprobs[range(32), Yb]")
    lineno = source.splitlines().index("dlogprobs[range(32), Yb] = -1.0 / n") + 1
    result = run("ex1", source)
    g = by_name(result)["dlogprobs"]
    assert g.status == "fail" and f"raised at ex1.py, line {lineno}: IndexError" in g.note
    assert result.errors and result.errors[0].instance != "lecture"


def test_shape_that_only_broadcasts_fails_with_the_shapes_in_words():
    grads = by_name(run("ex1", _mutate("(counts * dprobs).sum(1, keepdim=True)", "(counts * dprobs).sum(1)")))
    g = grads["dcounts_sum_inv"]
    assert g.status == "fail" and g.note == "wrong shape: expected (32, 1), got (32,)"


def test_scalar_for_a_near_zero_gradient_fails_on_shape():
    """The lecture's cmp passes a scalar db1, because the true db1 is ~0 and cmp broadcasts."""
    grads = by_name(run("ex1", _mutate("db1 = dhprebn.sum(0)", "db1 = dhprebn.sum()")))
    assert grads["db1"].status == "fail" and "expected (64,), got ()" in grads["db1"].note


def test_learner_exception_grades_what_came_before_and_reports_the_line():
    source = _mutate("dcounts = counts_sum_inv * dprobs", "dcounts = counts_sum_inv @ dprobs")
    result = run("ex1", source)
    grads = by_name(result)
    assert [grads[n].status for n in ("dlogprobs", "dprobs", "dcounts_sum_inv")] == ["pass"] * 3
    lineno = source.splitlines().index("dcounts = counts_sum_inv @ dprobs") + 1
    assert grads["dcounts"].status == "missing" and f"stopped at ex1.py, line {lineno}" in grads["dcounts"].note
    raised = result.errors[0].raised
    assert raised.lineno == lineno and raised.line == "dcounts = counts_sum_inv @ dprobs"
    assert raised.exception.startswith("RuntimeError")


def test_syntax_error_is_reported_as_the_learners_line():
    result = run("ex2", "dlogits = F.softmax(logits, 1\n")
    assert result.errors and result.errors[0].raised.exception.startswith("SyntaxError")
    assert by_name(result)["dlogits"].status == "missing"


def test_not_a_tensor_is_an_error():
    grads = by_name(run("ex2", "dlogits = [0.0] * 27\n"))
    assert grads["dlogits"].status == "error" and "list" in grads["dlogits"].note


def test_ex3_without_bessel_fails():
    source = (REFERENCE / "ex3.py").read_text().replace("n / (n - 1) * ", "")
    assert by_name(run("ex3", source))["dhprebn"].status == "fail"


def test_in_place_writes_to_the_forward_tensors_do_not_reach_the_truth():
    """Overwriting the forward tensors in place changes nothing the grader compares against."""
    source = "logits.zero_()\nW2.zero_()\n" + (REFERENCE / "ex2.py").read_text()
    assert run("ex2", source).passed is False
    assert run("ex2", (REFERENCE / "ex2.py").read_text()).passed


@pytest.mark.parametrize("db1, passes", [
    ("dhprebn.flip(0).sum(0)", True),  # the same sum in another order: other float32 rounding
    ("dhprebn.double().sum(0).float()", True),
    ("dhprebn.sum(0) + 1e-4", False),
    ("dhprebn.sum(1)", False),
])
def test_db1_is_judged_against_float32_rounding_of_its_sum(db1, passes):
    source = (REFERENCE / "ex1.py").read_text().replace("db1 = dhprebn.sum(0)", f"db1 = {db1}")
    result = check(EXERCISES["ex1"], (Snippet(source, "ex1.py"),))
    lecture = next(g for g in result.gradients if g.name == "db1").instances[0]
    assert lecture.status == ("pass" if passes else "fail") and result.passed == passes
