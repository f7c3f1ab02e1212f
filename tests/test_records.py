"""Results as records: what `--json` prints comes back as the same result, and what does not depend
on the learner (truths, namespaces, autograd's twin run) is computed once per process."""
import json

import pytest
from conftest import REFERENCE

from backprop_ninja.check import check
from backprop_ninja.engine.judging import trials
from backprop_ninja.engine.judging.convergence import twin_run
from backprop_ninja.engine.results.records import (SCHEMA_VERSION, CheckResult, Comparison, Convergence, Diagnosis,
                                                   GradientResult, InstanceError, InstanceInfo, Kind, Raised, RootCause,
                                                   Status, Stop)
from backprop_ninja.engine.reading.cells import Snippet
from backprop_ninja.packs.makemore4.exercises import EXERCISES


def round_trip(result: CheckResult) -> CheckResult:
    return CheckResult.from_dict(json.loads(json.dumps(result.to_dict())))


def hand_made() -> CheckResult:
    """A result with every part filled in, as no single check would make it."""
    raised = Raised("ex4.py", 12, "dW1 = embcat.T @ dhprebn[0]", "RuntimeError: shapes", (("dhprebn", (32, 64)),),
                    gradient="dW1", stop=Stop.TIME_LIMIT)
    comparison = Comparison(Status.FAIL, (30, 64), (64,), False, False, 0.5, "broadcasts", leading_ones=True)
    gradient = GradientResult("dW1", Status.FAIL, (30, 64), (64,), False, False, 0.5, "a note", "a hint",
                              (comparison, Comparison(Status.PASS, (30, 64))), Status.PASS,
                              Diagnosis(Kind.INHERITED, "inherits the error in dhprebn"), written_as="dw1")
    return CheckResult("ex4", "ex4.py", (gradient,), (InstanceInfo("lecture", "n=32"),),
                       (InstanceError("lecture", raised),), "printed",
                       Convergence(50, False, "drifts", 3.3, 2.5, None, 0.2, 10, raised),
                       RootCause("dhprebn", Diagnosis(Kind.SCALE, "1/n"), "hint", graded=False),
                       found="In [5]", notes=("a note",))


@pytest.mark.fast
def test_every_part_of_a_record_comes_back_the_same_through_its_json():
    result = hand_made()
    again = round_trip(result)
    assert again == result and again.gradients[0].instances[0].status is Status.FAIL
    assert again.errors[0].raised.stop is Stop.TIME_LIMIT and again.convergence.raised == result.convergence.raised


@pytest.mark.fast
def test_a_stop_of_an_unknown_kind_is_read_as_raised():
    d = hand_made().to_dict()
    d["errors"][0]["stop"] = "from-the-future"
    assert CheckResult.from_dict(d).errors[0].raised.stop is Stop.RAISED


def test_a_diagnosed_failing_result_comes_back_the_same():
    source = (REFERENCE / "ex1.py").read_text().replace("(-dbndiff).sum(0)", "dbndiff.sum(0)")
    source += "print('hello')\nraise ValueError('at the end')\n"
    result = check(EXERCISES["ex1"], (Snippet(source, "ex1.py"),), "ex1.py")
    assert result.root and result.errors and result.output
    again = round_trip(result)
    assert again == result
    assert again.gradients[0].status is Status.PASS and again.root.diagnosis.kind is Kind.SIGN
    assert result.to_dict()["schema"] == SCHEMA_VERSION


def test_an_exercise_4_result_with_its_training_comes_back_the_same():
    source = (REFERENCE / "ex4.py").read_text().replace("dW1 = embcat.T @ dhprebn", "dW1 = embcat.T @ dhprebn[0]")
    result = check(EXERCISES["ex4"], (Snippet(source, "ex4.py"),), steps=30)
    assert result.convergence and result.convergence.raised
    assert round_trip(result) == result


def test_a_record_from_a_newer_version_keeps_what_it_knows():
    result = check(EXERCISES["ex2"], (Snippet((REFERENCE / "ex2.py").read_text(), "ex2.py"),))
    d = result.to_dict()
    d["something_new"] = 1
    d["gradients"][0]["also_new"] = [1, 2]
    assert CheckResult.from_dict(d) == result


def test_truths_and_namespaces_are_computed_once_for_every_submission():
    exercise = EXERCISES["ex3"]
    check(exercise, (Snippet("dhprebn = dhpreact\n", "a.py"),))
    before = trials.truth.cache_info(), trials.namespace.cache_info()
    check(exercise, (Snippet((REFERENCE / "ex3.py").read_text(), "b.py"),))
    after = trials.truth.cache_info(), trials.namespace.cache_info()
    assert after[0].misses == before[0].misses and after[0].hits > before[0].hits
    assert after[1].misses == before[1].misses and after[1].hits > before[1].hits


def test_autograd_trains_its_twin_once_for_every_submission():
    source = (REFERENCE / "ex4.py").read_text()
    check(EXERCISES["ex4"], (Snippet(source, "a.py"),), steps=40)
    misses = twin_run.cache_info().misses
    check(EXERCISES["ex4"], (Snippet(source, "b.py"),), steps=40)
    assert twin_run.cache_info().misses == misses
