"""Results as records: what `--json` prints comes back as the same result, and what does not depend
on the learner (truths, namespaces, autograd's twin run) is computed once per process."""
import json

from conftest import REFERENCE

from backprop_ninja.check import check
from backprop_ninja.engine import trials
from backprop_ninja.engine.convergence import twin_run
from backprop_ninja.engine.records import SCHEMA_VERSION, CheckResult, Kind, Status
from backprop_ninja.engine.reading import Snippet
from backprop_ninja.packs.makemore4.exercises import EXERCISES


def round_trip(result: CheckResult) -> CheckResult:
    return CheckResult.from_dict(json.loads(json.dumps(result.to_dict())))


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
