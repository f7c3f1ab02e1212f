"""The `ninja` command as a learner runs it: real subprocesses, real files, real notebooks."""
import json

import nbformat
import pytest
from click.testing import CliRunner
from conftest import REFERENCE

from backprop_ninja.check.stubs import render_ipynb
from backprop_ninja.cli import main
from backprop_ninja.engine.exercises.registry import exercises
from backprop_ninja.packs.makemore4.exercises import EXERCISES

JSON_KEYS = {"name", "status", "exact", "approximate", "maxdiff", "shape", "expected_shape", "local_status",
             "diagnosis"}


def test_reference_passes_with_exit_0_and_a_plain_table_when_piped(run_ninja):
    code, out, err = run_ninja("check", "ex1", REFERENCE / "ex1.py")
    assert code == 0, err
    assert "\x1b[" not in out, "no colour when piped"
    assert "All 26 gradients match autograd" in out
    lines = out.splitlines()
    assert all(len(line) <= 88 for line in lines)
    rows = [line.split() for line in lines if line.strip().split(" ")[0].isdigit()]
    assert [r[1] for r in rows] == list(EXERCISES["ex1"].names)
    assert all(r[-1] == "pass" for r in rows)


def test_json_has_the_stable_keys_in_backprop_order(ninja):
    code, out, _ = ninja("check", "ex1", REFERENCE / "ex1.py", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["exercise"] == "ex1" and result["passed"] is True and result["score"] == 1.0
    assert [g["name"] for g in result["gradients"]] == list(EXERCISES["ex1"].names)
    for g in result["gradients"]:
        assert JSON_KEYS <= g.keys() and g["status"] == "pass"
    assert result["gradients"][0]["shape"] == [32, 27] == result["gradients"][0]["expected_shape"]
    assert result["root_cause"] is None
    dbnmeani = next(g for g in result["gradients"] if g["name"] == "dbnmeani")
    assert dbnmeani["diagnosis"]["kind"] == "shape-note" and dbnmeani["local_status"] == "pass"


def test_untouched_stub_exits_1_without_a_traceback(ninja, tmp_path):
    assert ninja("init", tmp_path / "work")[0] == 0
    code, out, err = ninja("check", "ex2", tmp_path / "work" / "ex2.py", "--json")
    assert code == 1 and "Traceback" not in err
    assert json.loads(out)["gradients"][0]["status"] == "missing"


def test_bad_input_exits_2_with_a_message(ninja, tmp_path):
    code, _, err = ninja("check", "ex1", tmp_path / "nope.py")
    assert code == 2 and "no such file" in err and "Traceback" not in err
    code, _, err = ninja("check", "ex9")
    assert code == 2 and "ex9" in err
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    code, _, err = ninja("check", "ex1", broken)
    assert code == 2 and "not a readable notebook" in err


def test_learner_error_is_reported_not_raised(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ex2.py").write_text("import torch\n\ndlogits = torch.softmax(logits, 1) @ Yb\n")
    result = CliRunner().invoke(main, ["check", "ex2"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "root cause: dlogits (raised): ex2.py, line 3 `dlogits = torch.softmax(logits, 1) @ Yb`" \
        in " ".join(result.output.split())


def test_notebook_answer_cell_is_checked(tmp_path, ninja):
    notebook = nbformat.reads(render_ipynb(EXERCISES["ex1"]), as_version=4)
    answer = next(c for c in notebook.cells if "backprop-ninja:ex1" in c.metadata.get("tags", []))
    answer.source = "%time 1\n" + (REFERENCE / "ex1.py").read_text()
    path = tmp_path / "mine.ipynb"
    nbformat.write(notebook, str(path))
    code, out, err = ninja("check", "ex1", path)
    assert code == 0, out + err


def test_notebook_without_a_tagged_cell_is_bad_input(tmp_path):
    path = tmp_path / "empty.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), str(path))
    result = CliRunner().invoke(main, ["check", "ex1", str(path)])
    assert result.exit_code == 2 and "no code cell tagged 'backprop-ninja:ex1'" in result.output


def test_init_then_check_finds_the_working_copy_and_never_overwrites(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["init"]).exit_code == 0
    work = tmp_path / "ninja-exercises"
    assert sorted(p.name for p in work.iterdir()) == sorted(f"{k}.{s}" for k in exercises() for s in ("py", "ipynb"))
    (work / "ex3.py").write_text((REFERENCE / "ex3.py").read_text())
    again = runner.invoke(main, ["init"])
    assert "kept" in again.output and (work / "ex3.py").read_text() == (REFERENCE / "ex3.py").read_text()
    result = runner.invoke(main, ["check", "ex3"])
    assert result.exit_code == 0 and "Checking ninja-exercises/ex3.py" in result.output


def test_without_a_working_copy_the_untouched_stub_is_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "ex1"])
    assert result.exit_code == 1
    assert "No working copy of ex1" in result.output and "ninja init" in result.output
    assert "0/26 gradients computed yet: start with dlogprobs" in result.output


def test_help_teaches_and_the_entry_points_agree(run_ninja):
    code, out, _ = run_ninja("--help")
    assert code == 0 and "ninja init" in out and "python -m backprop_ninja" in out
    code, out, _ = run_ninja("check", "--help")
    assert code == 0 and "Exit status: 0 all gradients pass, 1 some do not, 2 bad input." in " ".join(out.split())


def test_a_failing_check_names_its_root_cause_in_the_table_json_and_hints(ninja, tmp_path):
    mine = tmp_path / "ex1.py"
    mine.write_text((REFERENCE / "ex1.py").read_text().replace("(-dbndiff).sum(0)", "dbndiff.sum(0)"))
    code, out, _ = ninja("check", "ex1", mine)
    assert code == 1
    assert "root cause: dbnmeani (sign)" in out and "own step" in out
    assert "hint: bndiff = hprebn - bnmeani" in out
    assert "Fix dbnmeani first." in out
    code, out, _ = ninja("check", "ex1", mine, "--hints", "off")
    assert "hint:" not in out and "root cause: dbnmeani (sign)" in out
    code, out, _ = ninja("check", "ex1", mine, "--json")
    result = json.loads(out)
    assert result["root_cause"] == "dbnmeani"
    grads = {g["name"]: g for g in result["gradients"]}
    assert grads["dbnmeani"]["diagnosis"]["kind"] == "sign" and grads["dbnmeani"]["local_status"] == "fail"
    assert grads["dhprebn"]["status"] == "fail" and grads["dhprebn"]["local_status"] == "pass"
    assert grads["dhprebn"]["diagnosis"] == {"kind": "inherited", "message": "inherits the error in dbnmeani"}
    assert grads["dlogprobs"]["diagnosis"] is None and grads["dlogprobs"]["local_status"] == "pass"


def test_hints_all_lists_every_gradient(ninja):
    code, out, _ = ninja("check", "ex2", REFERENCE / "ex2.py", "--hints", "all")
    assert code == 0 and "Hints:" in out and "dlogits: for one row" in out


def test_colour_follows_color_flags_and_no_color(tmp_path):
    runner = CliRunner()
    args = ["check", "ex2", str(REFERENCE / "ex2.py")]
    assert "\x1b[" in runner.invoke(main, [*args, "--color"]).output
    assert "\x1b[" not in runner.invoke(main, [*args, "--no-color"]).output
    assert "\x1b[" not in runner.invoke(main, args, env={"NO_COLOR": "1"}, color=True).output
    assert "\x1b[" in runner.invoke(main, args, color=True).output
    assert "\x1b[" in runner.invoke(main, [*args, "--color"], env={"NO_COLOR": "1"}).output, "the flag wins"


def test_json_carries_errors_and_convergence(ninja, tmp_path):
    mine = tmp_path / "ex4.py"
    mine.write_text((REFERENCE / "ex4.py").read_text().replace("dW1 = embcat.T @ dhprebn",
                                                               "dW1 = embcat.T @ dhprebn[0]"))
    code, out, _ = ninja("check", "ex4", mine, "--json", "--steps", "50")
    assert code == 1
    result = json.loads(out)
    error = result["errors"][0]
    assert error["instance"] == "step 0" and error["where"] == f"{mine}, line 19"
    assert error["exception"].startswith("RuntimeError") and error["gradient"] == "dW1"
    assert error["line"] == "dW1 = embcat.T @ dhprebn[0]"
    convergence = result["convergence"]
    assert convergence["passed"] is False and convergence["steps"] == 50
    assert convergence["reason"].startswith("stopped at step 0: your code raised at")
    assert convergence["raised"]["lineno"] == 19 and convergence["learner_end"] is None
    code, out, _ = ninja("check", "ex4", REFERENCE / "ex4.py", "--json", "--steps", "50")
    convergence = json.loads(out)["convergence"]
    assert code == 0 and convergence["passed"] is True and convergence["max_gap"] < 1e-4
    assert set(convergence) == {"steps", "passed", "reason", "start_loss", "twin_end", "learner_end", "max_gap",
                                "window", "raised"}


def test_ctrl_c_exits_130(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    # Ctrl-C as in a terminal: a shell starts a background job (a CI run under `&`, say) with SIGINT
    # ignored, which every process it starts inherits, and Python then installs no KeyboardInterrupt.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        done = subprocess.Popen([sys.executable, "-m", "backprop_ninja", "train", "--autograd", "--steps", "1000000",
                                 "--samples", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"})
    finally:
        signal.signal(signal.SIGINT, previous)
    assert done.stdout.readline().startswith("Training with")  # training starts now
    done.send_signal(signal.SIGINT)
    try:
        _, err = done.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # where it hangs, said by faulthandler's dump on SIGABRT
        done.send_signal(signal.SIGABRT)
        pytest.fail(f"still running a minute after Ctrl-C:\n{done.communicate()[1]}")
    assert done.returncode == 130 and "Interrupted." in err and "Traceback" not in err
