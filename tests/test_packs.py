"""Packs: the bigram pack end to end (its reference passes everywhere, its untouched stub fails
cleanly, and each single mistake of a corpus gets its root cause and kind), the registry of
packs, and a pack that an installed package registers through its entry point."""
import dataclasses
import json
import sys
from importlib.metadata import EntryPoint

import nbformat
import pytest
import torch
from conftest import REFERENCE, worked

from backprop_ninja.check import check
from backprop_ninja.check.stubs import render_ipynb, render_py
from backprop_ninja.engine.exercises import registry
from backprop_ninja.engine.exercises.errors import PackError
from backprop_ninja.engine.reading.cells import Snippet
from backprop_ninja.packs.bigram import BIGRAM, PACK, BigramInstance

REFERENCE_BIGRAM = worked("bigram")
MISTAKES = {m.name: m for m in registry.with_references(PACK).mistakes}
# The packs with a corpus of mistakes beside their references in reference/: every built-in one.
CORPORA = [name for name, pack in registry.packs().items() if pack.reference_files and pack.reference_files.mistakes]
assert set(CORPORA) >= set(registry.BUILT_IN)


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


@pytest.mark.fast
def test_the_corpus_of_mistakes_has_one_mistake_each_and_covers_every_gradient():
    assert len(MISTAKES) >= 8 and {m.root_cause for m in MISTAKES.values()} == set(BIGRAM.names)
    for mistake in MISTAKES.values():
        changed = [(a, b) for a, b in zip(REFERENCE_BIGRAM.splitlines(), mistake.source.splitlines()) if a != b]
        assert len(changed) == 1 or mistake.source.count("\n") == REFERENCE_BIGRAM.count("\n") - 1, mistake.name


@pytest.mark.parametrize("name", CORPORA)
def test_every_pack_holds_what_it_declares(name):
    """Reference on every instance, at least 8 single mistakes each with its root cause and kind."""
    pack = registry.with_references(registry.packs()[name])
    from backprop_ninja.check.pack import validate

    findings = validate(pack)
    assert all(f.ok for f in findings), [f for f in findings if not f.ok]
    assert len(pack.mistakes) >= 8 and sum("mistake" in f.subject for f in findings) == len(pack.mistakes)


def test_check_exercise_finds_a_built_in_pack_s_references_in_the_repository_from_anywhere(tmp_path, ninja):
    """makemore4 holds none of its answers; they are read from reference/, wherever the command runs."""
    assert not registry.packs()["makemore4"].references
    code, out, err = ninja("check-exercise", "makemore4", "--json", cwd=tmp_path)
    findings = {f["subject"]: f for f in json.loads(out)}
    assert code == 0 and all(f["ok"] for f in findings.values()), out + err
    for key in ("ex1", "ex2", "ex3", "ex4"):
        assert findings[f"{key}: reference"]["detail"] == "passes on all 4 instances", key


@pytest.mark.parametrize("case", MISTAKES, ids=list(MISTAKES))
def test_each_mistake_gets_its_root_cause_and_kind(case):
    mistake = MISTAKES[case]
    result = run(mistake.source)
    assert not result.passed
    assert (result.root.name, result.root.diagnosis.kind.value) == (mistake.root_cause, mistake.kind), \
        result.root.diagnosis.message


@pytest.mark.fast
def test_the_stub_notebook_tags_one_answer_cell_and_names_the_pack_s_tensors():
    notebook = nbformat.reads(render_ipynb(BIGRAM), as_version=4)
    tagged = [c for c in notebook.cells if "backprop-ninja:bigram" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "dW = None  # like W: (27, 27)" in tagged[0].source
    assert "xs, ys, N, V, reg, the parameters W" in render_py(BIGRAM)


def test_the_command_checks_lists_and_inits_the_pack(ninja, tmp_path):
    (tmp_path / "mine.py").write_text(REFERENCE_BIGRAM)
    code, out, _ = ninja("check", "bigram", tmp_path / "mine.py")
    assert code == 0 and "All 7 gradients match autograd on all 4 instances" in out
    code, out, _ = ninja("list")
    assert "bigram: makemore part 1" in out and "makemore4: makemore part 4" in out and "mlp: makemore part 2" in out
    code, _, _ = ninja("init", tmp_path / "work")
    assert (tmp_path / "work" / "bigram.py").read_text() == render_py(BIGRAM)


def forget():
    """The registry's packs forgotten, so that it looks for them again."""
    for cached in (registry._targets, registry.pack_named, registry.packs, registry.exercises):
        cached.cache_clear()


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A package of a course's own, registering `module:PACK` under the entry-point group."""
    def install(module: str, source: str):
        (tmp_path / f"{module}.py").write_text(source)
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.setattr(registry, "entry_points", lambda group: [EntryPoint("course", f"{module}:PACK", group)])
        forget()
    yield install
    forget()
    for module in [m for m in sys.modules if m.startswith("course_pack")]:
        del sys.modules[module]


def test_a_pack_an_installed_package_registers_is_found(installed):
    installed("course_pack", "import dataclasses\nfrom backprop_ninja.engine.exercises.registry import Pack\n"
                             "from backprop_ninja.packs.bigram import BIGRAM\n"
                             "PACK = Pack('course', 'our course', (dataclasses.replace(BIGRAM, key='bigram2'),))\n")
    assert "course" in registry.packs() and run(REFERENCE_BIGRAM, registry.exercises()["bigram2"]).passed


@pytest.mark.parametrize("source, message", [
    ("PACK = 42\n", "is not a backprop_ninja Pack"),
    ("raise ImportError('no torch here')\n", "cannot be loaded"),
    ("from backprop_ninja.engine.exercises.registry import Pack\nfrom backprop_ninja.packs.bigram import BIGRAM\n"
     "PACK = Pack('course', 'ours', (BIGRAM,))\n", "two packs define an exercise 'bigram'"),
])
def test_a_broken_or_clashing_pack_is_a_clear_error(installed, source, message):
    installed("course_pack_bad", source)
    with pytest.raises(PackError, match=message):
        registry.exercises()


def test_the_command_reports_a_broken_pack_without_a_traceback(installed, ninja):
    installed("course_pack_broken", "PACK = 42\n")
    code, out, err = ninja("list")
    assert code == 2 and "is not a backprop_ninja Pack" in err and "Traceback" not in out + err


# A pack an instructor writes: a linear regression's backward, in a file of its own.
REGRESSION = """\
from dataclasses import dataclass

import torch

from backprop_ninja.engine.exercises.exercise import ForwardExercise, Gradient
from backprop_ninja.engine.exercises.forward import ForwardPass
from backprop_ninja.engine.exercises.registry import Mistake, Pack


@dataclass(frozen=True)
class Size:
    label: str
    n: int = 8
    d: int = 3
    seed: int = 0
    dtype: torch.dtype = torch.float64
    rtol: float = 1e-5
    atol: float = 1e-8

    def describe(self):
        return f"n={self.n}, d={self.d}, seed={self.seed}"

    def named_sizes(self):
        return {"n": self.n, "d": self.d}


@dataclass(frozen=True)
class Regression(ForwardExercise[Size]):
    def setting(self, size):
        g = torch.Generator().manual_seed(size.seed)
        x, y = torch.randn(size.n, size.d, generator=g), torch.randn(size.n, generator=g)
        w, b = torch.randn(size.d, generator=g), torch.randn((), generator=g)
        leaves = {"w": w.to(size.dtype), "b": b.to(size.dtype)}
        return leaves, {"x": x.to(size.dtype), "y": y.to(size.dtype), "n": size.n}


REGRESSION = Regression(
    key="regression", title="Linear regression", task="Backprop through a mean squared error.",
    gradients=(Gradient("ddiff", "a mean of squares"), Gradient("dpred", "diff = pred - y"),
               Gradient("dw", "pred = x @ w + b"), Gradient("db", "b is broadcast over the batch")),
    instances=(Size("lecture"), Size("bigger", n=20, d=5, seed=1)),
    forward=ForwardPass("pred = x @ w + b\\ndiff = pred - y\\nloss = (diff**2).mean()\\n", ("w", "b")),
)
RIGHT = "ddiff = 2 * diff / n\\ndpred = ddiff.clone()\\ndw = x.T @ dpred\\ndb = dpred.sum()\\n"
PACK = Pack("regression", "a course's own", (REGRESSION,), references={"regression": RIGHT},
            mistakes=(Mistake("regression", "the mean forgotten", RIGHT.replace("/ n", ""), "ddiff", "KIND"),))
"""


def test_an_instructor_s_pack_file_is_validated_and_used_without_installing(tmp_path, ninja):
    pack = tmp_path / "regression_pack.py"
    pack.write_text(REGRESSION.replace("KIND", "scale"))
    code, out, err = ninja("check-exercise", pack)
    assert code == 0 and "4 of 4 hold. The pack is ready." in out, out + err
    (tmp_path / "answer.py").write_text("ddiff = 2 * diff / n\ndpred = ddiff\ndw = x.T @ dpred\ndb = dpred.sum(0)\n")
    code, out, _ = ninja("check", "regression", tmp_path / "answer.py", "--pack", pack)
    assert code == 0 and "All 4 gradients match autograd on all 2 instances" in out
    code, out, _ = ninja("check", "regression", tmp_path / "answer.py")
    assert code == 2, "not installed: found only with --pack"


def test_a_pack_that_does_not_hold_what_it_declares_fails_validation(tmp_path, ninja):
    pack = tmp_path / "regression_pack.py"
    pack.write_text(REGRESSION.replace("KIND", "sign").replace('Gradient("db"', 'Gradient("dbogus"'))
    code, out, _ = ninja("check-exercise", pack, "--json")
    findings = {f["subject"]: f for f in json.loads(out)}
    assert code == 1
    assert not findings["regression: gradients"]["ok"] and "dbogus" in findings["regression: gradients"]["detail"]
    assert "not tried" in findings["regression: mistake 'the mean forgotten'"]["detail"]
    pack.write_text(REGRESSION.replace("KIND", "sign"))
    code, out, _ = ninja("check-exercise", pack, "--json")
    findings = {f["subject"]: f for f in json.loads(out)}
    assert code == 1
    assert "declared ddiff (sign), got ddiff (scale)" in findings["regression: mistake 'the mean forgotten'"]["detail"]


@pytest.mark.parametrize("text, message", [("x = 1\n", "defines no PACK"),
                                           ("import nosuchmodule\n", "cannot be loaded")])
def test_a_pack_file_that_is_not_one_is_bad_input(tmp_path, ninja, text, message):
    (tmp_path / "p.py").write_text(text)
    code, out, err = ninja("check-exercise", tmp_path / "p.py")
    assert code == 2 and message in err and "Traceback" not in out + err


TRAINING_PACK = """\
import dataclasses
from backprop_ninja.engine.exercises.registry import Pack
from backprop_ninja.packs.mlp import MLP
PACK = Pack("mine", "a course's own", (dataclasses.replace(MLP, key="mlp2"),))
"""


def test_a_pack_file_with_a_training_stage_trains_without_being_installed(tmp_path, ninja):
    """The worker that trains is sent the pack file's source, and loads the exercise from it."""
    (tmp_path / "p.py").write_text(TRAINING_PACK)
    (tmp_path / "answer.py").write_text(worked("mlp"))
    code, out, err = ninja("check", "--pack", tmp_path / "p.py", "mlp2", tmp_path / "answer.py", "--steps", "200",
                           "--json")
    assert code == 0 and json.loads(out)["convergence"]["passed"], err


def test_a_pack_file_the_training_worker_cannot_load_is_the_pack_s_error_not_the_learner_s(tmp_path, ninja):
    (tmp_path / "p.py").write_text("import backprop_ninja.report.html\n" + TRAINING_PACK)
    (tmp_path / "answer.py").write_text("dlogits = None\n")
    code, out, err = ninja("check", "--pack", tmp_path / "p.py", "mlp2", tmp_path / "answer.py", "--steps", "50")
    assert code == 2 and "backprop_ninja.report cannot be imported" in err and "Traceback" not in out + err


def test_a_class_answering_several_packs_is_graded_and_reported(tmp_path, run_ninja):
    for learner, name, text in [("ada", "bigram.py", REFERENCE_BIGRAM),
                                ("ada", "ex2.py", (REFERENCE / "ex2.py").read_text()),
                                ("bob", "bigram.py", MISTAKES["the regularizer forgotten"].source)]:
        path = tmp_path / "submitted" / learner / "work" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    db = tmp_path / "gradebook.db"
    code, out, err = run_ninja("grade", tmp_path / "submitted", "--gradebook", db, "--json", cwd=tmp_path)
    assert code == 0, err
    graded = {(g["learner"], r["exercise"]): r for g in json.loads(out) for r in g["results"]}
    assert graded["ada", "bigram"]["passed"] and graded["ada", "ex2"]["passed"]
    assert graded["bob", "bigram"]["root_cause"] == "dW"
    report = json.loads(run_ninja("report", "--gradebook", db, "--format", "json", cwd=tmp_path)[1])
    assert report["exercises"] == ["bigram", "ex2"]
    dw = next(g for g in report["gradients"] if (g["exercise"], g["gradient"]) == ("bigram", "dW"))
    assert (dw["first_attempt"], dw["never"], dw["kinds"]) == (1, 1, [{"kind": "missing-branch", "learners": 1}])


def test_a_mistake_that_is_the_reference_itself_is_caught(tmp_path, ninja):
    pack = tmp_path / "regression_pack.py"
    pack.write_text(REGRESSION.replace("KIND", "scale").replace('RIGHT.replace("/ n", "")', "RIGHT"))
    code, out, _ = ninja("check-exercise", pack, "--json")
    detail = {f["subject"]: f for f in json.loads(out)}["regression: mistake 'the mean forgotten'"]["detail"]
    assert code == 1 and "the same code as the reference" in detail


def test_the_mlp_pack_trains_with_the_learner_s_gradients_next_to_autograd_s_twin():
    """The training stage is the pack's own: the reference converges like autograd; a wrong backward
    fails its gradients and drifts from the twin's run even in grading's short training."""
    from backprop_ninja.grade import GRADE_STEPS
    from backprop_ninja.packs.mlp import MLP

    right = check(MLP, (Snippet(worked("mlp"), "mlp.py"),), steps=GRADE_STEPS)
    assert right.passed and right.convergence.passed
    halved = worked("mlp").replace("dW2 = h.T @ dlogits", "dW2 = 0.5 * (h.T @ dlogits)")
    wrong = check(MLP, (Snippet(halved, "mlp.py"),), steps=GRADE_STEPS)
    assert not wrong.passed and not wrong.convergence.passed, wrong.convergence.reason
