"""`ninja status`, a learner's overview: in real subprocesses on `ninja init`'s stubs and worked answers,
and its pure parts (the next step, the cache, the stubs it counts as not started) in this process."""
import json
from pathlib import Path

import nbformat
import pytest
from conftest import REFERENCE

from backprop_ninja.check.status import CACHE_ENV, Cache, cache_folder, check_key, next_step
from backprop_ninja.check.stubs import is_untouched, render_ipynb
from backprop_ninja.engine.exercises.registry import exercises
from backprop_ninja.engine.results.records import (FAIL, MISSING, PASS, CheckResult, Diagnosis, GradientResult,
                                                   InstanceError, InstanceInfo, Kind, Raised, RootCause, Stop)

EX3_NEGATED = (REFERENCE / "ex3.py").read_text().replace("bngain * bnvar_inv / n", "-bngain * bnvar_inv / n")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The cache's folder, the test's own: the subprocesses inherit the variable that moves it."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "checks"


def status_json(run_ninja, *args, cwd):
    """`ninja status --json`: its exit code, its rows by exercise, and what it said on stderr."""
    code, out, err = run_ninja("status", "--json", *args, cwd=cwd)
    assert "Traceback" not in err
    return code, {row["exercise"]: row for row in json.loads(out)} if out else {}, err


def entries(cache):
    return {p.name: p.read_bytes() for p in cache.glob("*.json")}


def test_a_passing_answer_among_untouched_stubs(run_ninja, tmp_path, cache):
    assert run_ninja("init", cwd=tmp_path)[0] == 0
    (tmp_path / "ninja-exercises" / "ex2.py").write_text((REFERENCE / "ex2.py").read_text())
    code, out, err = run_ninja("status", cwd=tmp_path)
    assert code == 1 and "Traceback" not in err
    assert all(len(line) <= 88 for line in out.splitlines())
    rows = {line.split()[0]: line for line in out.splitlines() if line.split()[:1] and line.split()[0] in exercises()}
    assert set(rows) == set(exercises())
    assert rows["ex2"].split()[1:4] == ["ninja-exercises/ex2.py", "passed", "100%"]
    assert rows["ex1"].split()[1:] == ["ninja-exercises/ex1.py", "not", "started", "-", "write", "dlogprobs"]
    assert f"1 of {len(exercises())} passed." in out
    assert err.count("checking") == 1 and "checking ex2" in err, "a stub is not checked"
    assert len(entries(cache)) == 1

    before = entries(cache)
    code, rows, err = status_json(run_ninja, cwd=tmp_path)
    assert code == 1 and "checking" not in err and entries(cache) == before
    assert rows["ex2"] | {"percent": 100, "cached": True} == rows["ex2"] and rows["ex2"]["passed"] is True
    assert rows["ex1"] == {"exercise": "ex1", "file": "ninja-exercises/ex1.py", "status": "not-started",
                           "passed": False, "percent": None, "next": "write dlogprobs", "gradient": "dlogprobs",
                           "kind": None, "cached": False, "error": None}


def test_only_a_changed_file_is_checked_again_and_a_corrupt_cache_is_ignored(run_ninja, tmp_path, cache):
    work = tmp_path / "work"
    work.mkdir()
    for key in ("ex2", "ex3"):
        (work / f"{key}.py").write_text((REFERENCE / f"{key}.py").read_text())
    code, rows, _ = status_json(run_ninja, "work", cwd=tmp_path)
    assert code == 0 and set(rows) == {"ex2", "ex3"}
    assert [(r["status"], r["cached"], r["file"]) for r in rows.values()] == [
        ("passed", False, "work/ex2.py"), ("passed", False, "work/ex3.py")]

    code, rows, err = status_json(run_ninja, "work", cwd=tmp_path)
    assert code == 0 and [r["cached"] for r in rows.values()] == [True, True] and "checking" not in err

    (work / "ex3.py").write_text(EX3_NEGATED)
    code, rows, err = status_json(run_ninja, "work", cwd=tmp_path)
    assert code == 1 and "checking ex3" in err and "checking ex2" not in err
    assert rows["ex2"]["cached"] and not rows["ex3"]["cached"]
    assert rows["ex3"]["status"] == "failing" and rows["ex3"]["next"] == "fix dhprebn (sign)"
    assert len(entries(cache)) == 3

    for path in cache.glob("*.json"):
        path.write_text('{"key": "not this one", "result": [')
    code, rows, err = status_json(run_ninja, "work", cwd=tmp_path)
    assert code == 1 and [r["cached"] for r in rows.values()] == [False, False]
    assert [r["status"] for r in rows.values()] == ["passed", "failing"]
    assert sorted(text.startswith(b'{"key": {') for text in entries(cache).values()) == [False, True, True], \
        "the two checked written again whole; the third, of ex3's old content, left as it was"


def test_an_empty_folder_says_how_to_start_and_a_missing_one_is_bad_input(run_ninja, tmp_path, cache):
    code, out, err = run_ninja("status", cwd=tmp_path)
    assert code == 2 and out == "" and "Traceback" not in err
    assert "No exercise file in ./ or ./ninja-exercises/" in err and "run `ninja init`" in err
    code, _, err = run_ninja("status", tmp_path / "nope")
    assert code == 2 and "does not exist" in err and "Traceback" not in err


def gradient(name, status, local=None, diagnosis=None, written_as=None):
    return GradientResult(name, status, (2,), None if status == MISSING else (2,), None, None, None, "", "", (),
                          local, diagnosis, written_as)


def result(*gradients, root=None, errors=(), exercise="ex1"):
    return CheckResult(exercise, f"{exercise}.py", gradients, (InstanceInfo("lecture", "the lecture's"),), errors,
                       root=root)


SIGN = Diagnosis(Kind.SIGN, "the right answer negated")


@pytest.mark.fast
def test_the_next_step_is_the_first_gradient_that_does_not_pass():
    assert next_step(result(gradient("da", PASS), gradient("db", PASS))) is None
    step = next_step(result(gradient("da", PASS), gradient("db", MISSING), gradient("dc", MISSING)))
    assert (step.text, step.gradient, step.kind) == ("write db", "db", None)
    assert next_step(result(gradient("da", MISSING, written_as="dA"))).text == "write da (you wrote dA)"
    root = RootCause("db", SIGN, "hint", graded=True)
    wrong = result(gradient("da", PASS, PASS), gradient("db", FAIL, FAIL, SIGN), gradient("dc", FAIL, PASS,
                   Diagnosis(Kind.INHERITED, "")), gradient("dd", MISSING), root=root)
    step = next_step(wrong)
    assert (step.text, step.gradient, step.kind) == ("fix db (sign)", "db", "sign")
    # Exercise 4's root cause may be a gradient it follows but does not grade.
    hidden = RootCause("dhprebn", SIGN, "hint", graded=False)
    assert next_step(result(gradient("dW1", FAIL, PASS, Diagnosis(Kind.INHERITED, "")), root=hidden)).text == \
        "fix dW1: root cause dhprebn (sign)"
    raised = Diagnosis(Kind.RAISED, "line 3 raised ValueError")
    stopped = Raised("ex1.py", 3, "x = f(", "ValueError: no", gradient="db")
    assert next_step(result(gradient("da", PASS), gradient("db", MISSING, FAIL, raised), gradient("dc", MISSING),
                            root=RootCause("db", raised, "", True),
                            errors=(InstanceError("lecture", stopped),))).text == "fix db (raised)"
    syntax = Raised("ex1.py", 3, "x = (", "SyntaxError: '(' was never closed", stop=Stop.SYNTAX_ERROR, gradient="db")
    stopped = result(gradient("da", MISSING), gradient("db", MISSING), errors=(InstanceError("lecture", syntax),))
    step = next_step(stopped)
    assert (step.text, step.gradient, step.kind) == ("fix the syntax error at ex1.py, line 3", "db", "syntax-error")


@pytest.mark.fast
def test_the_cache_is_keyed_by_all_that_decides_a_check():
    ex2, ex4 = exercises()["ex2"], exercises()["ex4"]
    key = check_key(ex2, Path("ex2.py"), b"dlogits = 1", 2000, None, "1.0")
    assert key == check_key(ex2, Path("elsewhere/ex2.py"), b"dlogits = 1", 2000, None, "1.0"), "the content, not where"
    assert key == check_key(ex2, Path("ex2.py"), b"dlogits = 1", 30, None, "1.0"), "ex2 does not train"
    assert all(other != key for other in (
        check_key(ex2, Path("ex2.py"), b"dlogits = 2", 2000, None, "1.0"),
        check_key(ex2, Path("ex2.ipynb"), b"dlogits = 1", 2000, None, "1.0"),
        check_key(exercises()["ex3"], Path("ex2.py"), b"dlogits = 1", 2000, None, "1.0"),
        check_key(ex2, Path("ex2.py"), b"dlogits = 1", 2000, 5.0, "1.0")))
    assert check_key(ex4, Path("ex4.py"), b"", 30, None, "1.0") != check_key(ex4, Path("ex4.py"), b"", 2000, None,
                                                                            "1.0")
    assert check_key(ex2, Path("ex2.py"), b"dlogits = 1", 2000, None, "99.0") != key, "another version of the checker"


@pytest.mark.fast
def test_the_cache_gives_back_what_it_stored_and_refuses_anything_else(tmp_path):
    cache = Cache(tmp_path / "checks", "1.0")
    ex2 = exercises()["ex2"]
    key, other = (check_key(ex2, Path("ex2.py"), content, 2000, None, "1.0") for content in (b"a", b"b"))
    passed = result(gradient("dlogits", PASS, PASS), exercise="ex2")
    assert cache.load(key, ex2.names) is None
    cache.store(key, passed)
    assert cache.load(key, ex2.names) == passed and cache.load(other, ex2.names) is None
    assert [p.name for p in cache.folder.iterdir()] == [cache.file(key).name], "no temporary file left"
    stored = json.loads(cache.file(key).read_text())
    refused = {
        "not JSON": b'{"key": ',
        "not UTF-8": b"\xff\xfe",
        "a list": b"[1, 2]",
        "another key": json.dumps({**stored, "key": other}).encode(),
        "no result": json.dumps({"key": key}).encode(),
        "a result that does not read back": json.dumps({"key": key, "result": {"exercise": "ex2"}}).encode(),
        "another exercise's result": json.dumps({"key": key, "result": result(
            gradient("dhprebn", PASS), exercise="ex3").to_dict()}).encode(),
        "other gradients": json.dumps({"key": key, "result": result(
            gradient("dlogprobs", PASS), exercise="ex2").to_dict()}).encode(),
    }
    for why, content in refused.items():
        cache.file(key).write_bytes(content)
        assert cache.load(key, ex2.names) is None, why
    cache.file(key).unlink()
    cache.file(key).mkdir()
    assert cache.load(key, ex2.names) is None, "a folder in its place"


@pytest.mark.fast
def test_the_cache_goes_where_a_users_cache_goes(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_folder() == tmp_path / "home" / ".cache" / "backprop-ninja" / "checks"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # not absolute: ignored, as the XDG spec says
    assert cache_folder() == tmp_path / "home" / ".cache" / "backprop-ninja" / "checks"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder() == tmp_path / "xdg" / "backprop-ninja" / "checks"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert cache_folder() == tmp_path / "mine" / "checks"


@pytest.mark.fast
def test_an_untouched_stub_notebook_is_not_started(tmp_path):
    """The reading ends a cell's code with a newline its stub's cell does not have."""
    ex3 = exercises()["ex3"]
    path = tmp_path / "ex3.ipynb"
    path.write_text(render_ipynb(ex3))
    assert is_untouched(path, ex3)
    notebook = nbformat.read(str(path), as_version=4)
    next(c for c in notebook.cells if "backprop-ninja:ex3" in c.metadata.get("tags", [])).source = \
        (REFERENCE / "ex3.py").read_text()
    nbformat.write(notebook, str(path))
    assert not is_untouched(path, ex3)
