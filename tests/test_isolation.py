"""The learner's code runs in a worker process, and nothing it does there can make a wrong answer
pass: not patching the comparison, not a tensor subclass, not reaching for the truth or for autograd,
not ending the process or running forever. Each cheat below pairs with a wrong answer."""
import json
import resource
import time

import pytest
from conftest import REFERENCE

from backprop_ninja.check import check
from backprop_ninja.engine.reading.cells import Snippet
from backprop_ninja.engine.isolation.runner import OVERTIME, LearnerCode, Session
from backprop_ninja.packs.makemore4.exercises import EXERCISES

WRONG = "dlogits = torch.zeros_like(logits)\n"
RIGHT = (REFERENCE / "ex2.py").read_text()

CHEATS = {
    "allclose and equal patched": "torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
                                  "torch.Tensor.__eq__ = lambda *a, **k: True\n" + WRONG,
    "a tensor subclass that says it is close":
        "class Close(torch.Tensor):\n"
        "    @classmethod\n"
        "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
        "        if func in (torch.allclose, torch.equal):\n"
        "            return True\n"
        "        return super().__torch_function__(func, types, args, kwargs or {})\n"
        "dlogits = torch.zeros_like(logits).as_subclass(Close)\n",
    "autograd's engine put back, and the grader's autograd_gradients called":
        "import importlib\n"
        "variable = importlib.import_module('torch.autograd.variable')\n"
        "variable.Variable._execution_engine = getattr(torch._C, '_ImperativeEngine')()\n"
        "model = importlib.import_module('backprop_ninja.packs.makemore.model')\n"
        "forward = importlib.import_module('backprop_ninja.engine.exercises.forward')\n"
        "params = {name: globals()[name] for name in model.PARAMETERS}\n"
        "dlogits = forward.autograd_gradients(model.EXPANDED, params, {'Xb': Xb, 'Yb': Yb, 'n': n},"
        " ('dlogits',))['dlogits']\n",
    "autograd's engine reloaded": "import importlib, torch.autograd.variable as v\nimportlib.reload(v)\n"
                                  "l = logits.clone().requires_grad_()\n"
                                  "F.cross_entropy(l, Yb).backward()\ndlogits = l.grad\n",
    "the stack walked to the truth":
        "import sys\nf = sys._getframe()\nwhile f is not None and 'exercise' not in f.f_locals:\n    f = f.f_back\n"
        "dlogits = f.f_locals['exercise'].truth(f.f_locals['instance'])['dlogits']\n",
    "the verdict patched": "import backprop_ninja.check as c\nc.CheckResult.passed = property(lambda self: True)\n"
                           + WRONG,
    "the comparison replaced": "import sys\nsys.modules['backprop_ninja.check'].compare = lambda *a, **k: None\n"
                               + WRONG,
    "the grader imported after clearing the import guard":
        "import sys\nsys.meta_path[:] = [f for f in sys.meta_path if 'Barred' not in type(f).__name__]\n"
        "from backprop_ninja import check\n" + WRONG,
    "the process's output forged": "import os\nos.write(1, b'All 1 gradients match autograd')\n" + WRONG,
    "the zygote killed": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + WRONG,
}


@pytest.mark.parametrize("cheat", CHEATS, ids=list(CHEATS))
def test_a_cheat_does_not_pass(cheat):
    result = check(EXERCISES["ex2"], (Snippet(CHEATS[cheat], "ex2.py"),))
    assert not result.passed and result.gradients[0].status != "pass"


def test_the_grader_s_modules_the_worker_has_not_loaded_cannot_be_imported():
    result = check(EXERCISES["ex2"], (Snippet("import backprop_ninja.report\n", "ex2.py"),))
    assert result.errors[0].raised.exception == ("ImportError: backprop_ninja.report cannot be imported by the code "
                                                 "being checked")


HELD = "import sys\nheld = sorted(m for m in sys.modules if m.startswith('backprop_ninja.packs.'))\n"


def test_a_worker_holds_no_pack_but_the_one_whose_exercise_it_trains():
    """Straight in a worker (the source check would name `sys.modules`): where nothing trains, no pack
    at all; where exercise 4 trains, makemore4's alone (with the layer the makemore packs share)."""
    with Session(60) as session:
        assert LearnerCode((Snippet(HELD, "cell"),), session).run({}, ("held",)).values["held"] == []
    # makemore4's exercises, and what the makemore lectures' packs share below them
    only_makemore4 = HELD + ("if not held or any(m.split('.')[2] not in ('makemore4', 'makemore') for m in held):\n"
                             "    raise RuntimeError(f'the worker holds {held}')\n")
    source = (REFERENCE / "ex4.py").read_text().replace("grads = [", only_makemore4 + "grads = [")
    with Session(60) as session:
        code = LearnerCode(EXERCISES["ex4"].program((Snippet(source, "ex4.py"),)), session)
        assert len(list(session.stream_training(code, "ex4", "makemore4", 3))) == 3  # else LearnerStopped


def test_after_a_cheat_the_next_check_still_works():
    check(EXERCISES["ex2"], (Snippet(CHEATS["the zygote killed"], "ex2.py"),))
    assert check(EXERCISES["ex2"], (Snippet(RIGHT, "ex2.py"),)).passed


def test_a_subclass_is_named_as_such():
    result = check(EXERCISES["ex2"], (Snippet(CHEATS["a tensor subclass that says it is close"], "ex2.py"),))
    assert "is of type Close, not a tensor" in result.gradients[0].note


def test_ending_the_process_is_a_verdict_at_its_line():
    source = RIGHT + "import os\nos._exit(0)\n"
    result = check(EXERCISES["ex2"], (Snippet(source, "ex2.py"),))
    assert not result.passed
    raised = result.errors[0].raised
    assert raised.exception.startswith("ProcessEnded: your code ended the process")
    assert raised.lineno == 7 and raised.line == "os._exit(0)"


def test_running_forever_is_stopped_at_the_time_limit_and_says_where():
    source = "x = 0\nwhile True:\n    x += 1\n"
    result = check(EXERCISES["ex2"], (Snippet(source, "ex2.py"),), timeout=2)
    assert not result.passed
    raised = result.errors[0].raised
    assert raised.exception.startswith("TimeLimit: still running after 2 s")
    assert raised.lineno in (2, 3)


def test_what_was_written_before_the_time_ran_out_is_graded_on_every_instance():
    """As for code that raises: the gradients written before an endless loop pass where they are right,
    on every instance (the others run on past the limit, briefly, to the same point); the verdict is
    the time limit, and the check takes the limit and the bounded overtime, no more."""
    source = (REFERENCE / "ex1.py").read_text().split("dh = ")[0] + "while True:\n    pass\n"
    started = time.monotonic()
    result = check(EXERCISES["ex1"], (Snippet(source, "ex1.py"),), timeout=3)
    assert time.monotonic() - started < 3 + OVERTIME + 15
    by_name = {g.name: g for g in result.gradients}
    assert by_name["dlogits"].status == "pass" and by_name["dlogprobs"].status == "pass"
    assert by_name["dh"].status == "missing" and not result.passed
    assert [e.raised.stop.value for e in result.errors] == ["time-limit"] * len(result.instances)
    assert result.stop is not None and result.stop.value == "time-limit"


def test_memory_is_limited():
    source = "big = torch.ones(2 * 1024**3)  # 8 GB\n" + RIGHT
    result = check(EXERCISES["ex2"], (Snippet(source, "ex2.py"),))
    assert not result.passed and "line 1" in result.errors[0].raised.where


@pytest.mark.parametrize("name", ["TimeLimit", "AutogradUsed", "ProcessEnded", "SyntaxError"])
def test_a_learners_own_exception_named_like_a_verdict_is_only_an_exception(name):
    """Why code stopped is a typed field the grader sets, never read from an exception's name."""
    source = f"class {name}(Exception):\n    pass\nraise {name}('still running after 2 s')\n"
    result = check(EXERCISES["ex2"], (Snippet(source, "ex2.py"),))
    raised = result.errors[0].raised
    assert raised.stop.value == "raised" and not (raised.ended or raised.used_autograd or raised.is_syntax_error)
    assert not result.root or result.root.diagnosis.kind.value != "autograd-used"
    assert f"{name}: still running after 2 s" == raised.exception


def test_the_memory_limit_cannot_be_raised_by_the_learners_code():
    source = ("import resource\nsoft, hard = resource.getrlimit(resource.RLIMIT_AS)\n"
              "try:\n    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))\nexcept ValueError:\n    pass\n"
              "print('limit', resource.getrlimit(resource.RLIMIT_AS)[0])\n" + RIGHT)
    result = check(EXERCISES["ex2"], (Snippet(source, "ex2.py"),))
    limit = int(result.output.split()[1])
    assert limit != resource.RLIM_INFINITY and limit < 64 * 1024**3


def test_forged_output_does_not_reach_the_report(run_ninja, tmp_path):
    forged = tmp_path / "ex2.py"
    forged.write_text("import os\nos.write(1, b'{\"passed\": true}')\nos.write(2, b'oops')\n" + WRONG)
    code, out, err = run_ninja("check", "ex2", forged, "--json")
    assert code == 1 and json.loads(out)["passed"] is False and "oops" not in err


def test_ninja_check_exits_with_a_verdict_when_the_code_ends_the_process(ninja, tmp_path):
    mine = tmp_path / "ex2.py"
    mine.write_text("import os\nos._exit(0)\n")
    code, out, _ = ninja("check", "ex2", mine, "--timeout", "5")
    assert code == 1
    assert "your code ended the process" in out and "line 2" in out


EX4_HALVED = (REFERENCE / "ex4.py").read_text().replace("dW2 = h.T @ dlogits", "dW2 = 0.5 * (h.T @ dlogits)")
TRAINING_CHEATS = {
    "the worker's loss patched": "F.cross_entropy = lambda *a, **k: torch.tensor(0.0)\n",
    "the worker's training parameters made the twin's":
        "import gc\nfor o in gc.get_objects():\n    if type(o).__name__ == 'TrainingRun':\n"
        "        o.params = {k: torch.zeros_like(v) for k, v in o.params.items()}\n",
    "a reply forged on the worker's socket":
        "import gc, socket, json, struct\n"
        "s = next(o for o in gc.get_objects() if isinstance(o, socket.socket))\n"
        "body = json.dumps({'kind': 'reply', 'stopped': None, 'params': {}, 'sizes': []}).encode()\n"
        "frame = struct.pack('>I', len(body)) + body\n"
        "s.sendall(struct.pack('>Q', len(frame)) + frame)\n",
}


@pytest.mark.parametrize("cheat", TRAINING_CHEATS, ids=list(TRAINING_CHEATS))
def test_tampering_with_the_workers_training_run_does_not_pass(cheat):
    """Exercise 4's training runs in the worker, but only what its gradients do to the checker's
    own copy of the model counts: a wrong backward fails whatever the code does to that run."""
    source = EX4_HALVED.replace("grads = [", TRAINING_CHEATS[cheat] + "grads = [")
    result = check(EXERCISES["ex4"], (Snippet(source, "ex4.py"),), steps=30)
    assert not result.passed and not result.convergence.passed
