"""`ninja grade` on a class with hostile and broken submissions, each a real notebook, graded by the
real command in a real process, inside bubblewrap's sandbox and without it: every one gets a verdict,
none passes, none reaches what it goes for, and the right and wrong submissions graded after them
still get their true grades."""
import ast
import json
import os
import socket
import sqlite3
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path

import nbformat
import pytest
from conftest import REFERENCE, REPO

from backprop_ninja.check.stubs import render_ipynb
from backprop_ninja.engine.isolation.cgroup import Cgroup
from backprop_ninja.engine.isolation.sandbox import find
from backprop_ninja.packs.makemore4.exercises import EXERCISES

RIGHT = (REFERENCE / "ex2.py").read_text()
WRONG = "dlogits = torch.zeros_like(logits)\n"
MARK = "backprop-ninja-hostile-leftover"


def notebook(code: str) -> str:
    """Our ex2 stub notebook with `code` in its answer cell."""
    nb = nbformat.reads(render_ipynb(EXERCISES["ex2"]), as_version=4)
    next(c for c in nb.cells if "backprop-ninja:ex2" in c.metadata.get("tags", [])).source = code
    return nbformat.writes(nb)


def hostile_cases(tmp: Path, port: int) -> dict[str, tuple[str, str]]:
    """learner -> (what their answer cell does, its code). Each ends in a wrong answer, if it ends."""
    outside, gradebook, other = tmp / "outside.txt", tmp / "grades" / "book.db", tmp / "class" / "zz-right.ipynb"
    cases = {
        "infinite-loop": ("loops forever", "while True:\n    pass\n"),
        "sleeps": ("sleeps for a day", "import time\ntime.sleep(86400)\n"),
        "memory-bomb": ("allocates 100 GB", "x = torch.ones(25_000_000_000)\n"),
        "memory-creep": ("grows until memory runs out", "hoard = []\nwhile True:\n    hoard.append(b'x' * 10**8)\n"),
        "memory-bomb-forked": ("6 processes of 2 GB each",
                               "import os\nfor _ in range(6):\n    if os.fork() == 0:\n"
                               "        hoard = b'x' * 2 * 10**9\n        import time; time.sleep(60)\n"),
        "fork-bomb": ("forks without end", "import os\nwhile True:\n    try:\n        os.fork()\n"
                                           "    except OSError:\n        pass\n"),
        "sys-exit": ("calls sys.exit()", "import sys\nsys.exit(0)\n"),
        "os-exit": ("calls os._exit()", "import os\nos._exit(0)\n"),
        "segfault": ("crashes the interpreter", "import ctypes\nctypes.string_at(0)\n"),
        # 50 MB: 800 times what is kept, and written well within the 4 s a check has, on a busy machine too
        "output-flood": ("prints 50 MB", "for _ in range(50):\n    print('x' * 10**6)\n"),
        "fd-flood": ("writes 50 MB to its standard output's fd", "import os\nfor _ in range(50):\n"
                                                                "    os.write(1, b'x' * 10**6)\n"),
        "fills-tmp": ("fills /tmp with files", "import os\nfor i in range(10_000):\n"
                                               "    with open(f'/tmp/fill{i}', 'wb') as f:\n"
                                               "        f.write(b'x' * 10**6)\n"),
        "big-file": ("writes a 1 GB file", "with open('big', 'wb') as f:\n    f.write(b'x' * 10**9)\n"),
        "writes-outside": ("writes beside the submissions",
                           f"open({str(outside)!r}, 'w').write('written')\n"),
        "reads-gradebook": ("copies the gradebook", f"stolen = open({str(gradebook)!r}, 'rb').read()\n"),
        "reads-other": ("reads another learner's notebook", f"stolen = open({str(other)!r}).read()\n"),
        "network": ("connects to a server on the grader's machine",
                    f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3).sendall(b'hi')\n"),
        "kills-parent": ("kills its parent process", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"),
        "stops-parent": ("stops its parent process", "import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)\n"),
        "kills-graders": ("kills every process named like the grader",
                          "import os, signal\nfor pid in filter(str.isdigit, os.listdir('/proc')):\n"
                          "    try:\n        cmd = open(f'/proc/{pid}/cmdline', 'rb').read()\n"
                          "    except OSError:\n        continue\n"
                          "    if b'backprop_ninja' in cmd and int(pid) != os.getpid():\n"
                          "        try:\n            os.kill(int(pid), signal.SIGKILL)\n"
                          "        except OSError:\n            pass\n"),
        "fake-score": ("prints a perfect score and writes a results file",
                       "print('dlogits | exact: True | approximate: True | maxdiff: 0.0')\n"
                       "print('All 1 gradients match autograd. score 1.0')\n"
                       "import json\nopen('results.json', 'w').write(json.dumps({'score': 1.0}))\n"),
        "patches-torch": ("makes torch's comparisons always true",
                          "torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
                          "torch.Tensor.__sub__ = lambda *a, **k: torch.zeros(())\n"),
        "searches-gc": ("searches the garbage collector and the stack for the answer",
                        "import gc, sys\nfound = [o for o in gc.get_objects() if isinstance(o, torch.Tensor)"
                        " and o.shape == logits.shape and o is not logits]\n"
                        "f = sys._getframe()\nwhile f.f_back:\n    f = f.f_back\n"
                        "dlogits = found[0] if found else None\n"),
        "leaves-a-process": ("leaves a detached process running",
                             "import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', "
                             f"'import time; time.sleep(600)', {MARK!r}], start_new_session=True)\n"),
        "syntax-error": ("does not parse", "dlogits = (\n"),
        "raises": ("raises", "raise ValueError('no')\n"),
    }
    # A wrong answer after each, unless the case is a way to an answer of its own.
    return {learner: (what, code if "dlogits =" in code else code + WRONG) for learner, (what, code) in cases.items()}


BROKEN = {
    "not-a-notebook": ("a PNG named .ipynb", b"\x89PNG\r\n\x1a\n" + bytes(100)),
    "invalid-json": ("invalid JSON", b"{\"cells\": [}"),
    "nbformat-3": ("a notebook of nbformat 3", json.dumps(
        {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": []}]}).encode()),
    "no-exercise": ("a notebook that answers nothing", nbformat.writes(nbformat.v4.new_notebook()).encode()),
}


@pytest.fixture(scope="module", params=["bwrap", "none"])
def graded(request, tmp_path_factory):
    """The class graded once in each sandbox mode: (mode, results by learner, what the test saw)."""
    mode = request.param
    if mode == "bwrap" and find("auto")[0] is None:
        pytest.skip(f"bubblewrap does not work here: {find('auto')[1]}")
    tmp = tmp_path_factory.mktemp(mode)
    server = socket.create_server(("127.0.0.1", 0))
    reached: list[bytes] = []
    threading.Thread(target=lambda: reached.append(server.accept()[0].recv(10)), daemon=True).start()
    cases = hostile_cases(tmp, server.getsockname()[1])
    if mode == "none":  # without a sandbox these would reach the machine itself: not ours to try here
        for unsafe in ("kills-graders", "fills-tmp"):
            cases.pop(unsafe)
        cgroup = Cgroup.create()
        if cgroup is None:  # nothing bounds several processes' memory together
            cases.pop("memory-bomb-forked")
        else:
            cgroup.remove()
    folder = tmp / "class"
    folder.mkdir()
    for learner, (_, code) in cases.items():
        (folder / f"{learner}.ipynb").write_text(notebook(code))
    for learner, (_, content) in BROKEN.items():
        (folder / f"{learner}.ipynb").write_bytes(content)
    (folder / "zz-right.ipynb").write_text(notebook(RIGHT))
    (folder / "zz-wrong.ipynb").write_text(notebook(WRONG))
    db = tmp / "grades" / "book.db"
    db.parent.mkdir()
    done = subprocess.run([sys.executable, "-m", "backprop_ninja", "grade", str(folder), "--gradebook", str(db),
                           "--timeout", "4", "--jobs", "2", "--sandbox", mode, "--json"],
                          cwd=tmp, capture_output=True, text=True, timeout=600)
    server.close()
    leftovers = [pid for pid in filter(str.isdigit, os.listdir("/proc")) if MARK in _cmdline(pid)]
    for pid in leftovers:
        os.kill(int(pid), 9)
    by_learner = {g["learner"]: g for g in json.loads(done.stdout)} if done.stdout.strip() else {}
    return mode, by_learner, {"done": done, "reached": reached, "leftovers": leftovers, "tmp": tmp, "db": db,
                              "cases": cases}


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_every_submission_gets_a_verdict_and_none_passes(graded):
    mode, results, seen = graded
    assert seen["done"].returncode == 1, seen["done"].stderr[-2000:]  # the broken ones could not be graded
    assert set(results) == set(seen["cases"]) | set(BROKEN) | {"zz-right", "zz-wrong"}
    for learner in seen["cases"]:
        g = results[learner]
        assert g["error"] is None and len(g["results"]) == 1, (learner, g)
        assert not g["results"][0]["passed"], learner
    for learner in BROKEN:
        assert results[learner]["error"] and not results[learner]["results"], learner
    print(f"\nwhat the grader recorded ({mode}):")
    for learner, (what, _) in seen["cases"].items():
        r = results[learner]["results"][0]
        errors = r.get("errors") or []
        said = errors[0]["exception"] if errors else r["gradients"][0]["note"] or r["gradients"][0]["status"]
        print(f"  {learner:20s} {what:60s} -> {r['gradients'][0]['status']}: {said[:90]}")


def test_the_class_graded_after_them_gets_its_true_grades(graded):
    _, results, _ = graded
    assert results["zz-right"]["results"][0]["passed"]
    wrong = results["zz-wrong"]["results"][0]
    assert not wrong["passed"] and wrong["gradients"][0]["status"] == "fail"


def test_the_verdicts_say_what_happened(graded):
    _, results, _ = graded

    def exception(learner):
        return results[learner]["results"][0]["errors"][0]["exception"]

    for learner in ("infinite-loop", "sleeps", "fork-bomb"):
        assert "TimeLimit" in exception(learner) and "4 s" in exception(learner), learner
    assert "SystemExit" in exception("sys-exit")
    for learner in ("os-exit", "segfault"):
        assert "ended the process" in exception(learner), learner
    assert exception("syntax-error").startswith("SyntaxError")
    assert exception("raises") == "ValueError: no"
    assert "can't allocate memory" in exception("memory-bomb")
    # it may run out of memory, or of time while it writes its 4 GB
    assert any(said in exception("memory-creep") for said in ("MemoryError", "ended the process", "TimeLimit"))
    for learner in ("output-flood", "fd-flood", "stops-parent", "fake-score", "patches-torch"):
        assert results[learner]["results"][0]["errors"] == [], learner  # these ran to their (wrong) end
    for learner in ("memory-bomb-forked", "leaves-a-process"):  # a worker may start no process
        assert exception(learner).startswith("PermissionError"), learner
    flooded = results["output-flood"]["results"][0]
    assert len(flooded["output"]) <= 64 * 1024


def test_nothing_outside_is_reached_in_the_sandbox(graded):
    mode, results, seen = graded
    tmp = seen["tmp"]
    if mode == "none":  # the doors the warning names are open: the sandbox is what closes them
        assert (tmp / "outside.txt").exists() and seen["reached"] == [b"hi"]
        return
    assert not (tmp / "outside.txt").exists()
    assert seen["reached"] == [], "the server on the grader's machine was reached"
    for learner in ("writes-outside", "reads-gradebook", "reads-other"):
        assert results[learner]["results"][0]["errors"], learner
    assert "Connection refused" in results["network"]["results"][0]["errors"][0]["exception"]  # its own loopback
    with sqlite3.connect(seen["db"]) as c:
        assert c.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert c.execute("SELECT count(*) FROM attempts").fetchone()[0] == len(results)


def test_no_process_is_left_running(graded):
    _, _, seen = graded
    assert seen["leftovers"] == []


def test_the_warning_says_when_there_is_no_sandbox(graded):
    mode, _, seen = graded
    assert ("Warning" in seen["done"].stderr) == (mode == "none")
    assert "Traceback" not in seen["done"].stderr


@pytest.mark.parametrize("mode", ["bwrap", "none"])
def test_nothing_carries_from_one_submission_to_the_next(mode, tmp_path):
    """The first leaves (or tries to) files, a running process, a changed torch and (in the sandbox)
    message queues behind; the second, graded next by the same zygote, answers right only if it finds any."""
    if mode == "bwrap" and find("auto")[0] is None:
        pytest.skip(f"bubblewrap does not work here: {find('auto')[1]}")
    files = ["left-here"] + (["/tmp/left-in-tmp", "/dev/shm/left-in-shm"] if mode == "bwrap" else [])
    alive = "/tmp/alive" if mode == "bwrap" else "alive"  # without the sandbox, /tmp is the machine's
    keeps_writing = f"import time\nwhile True:\n    open({alive!r}, 'w').write('x')\n    time.sleep(0.05)\n"
    # In the sandbox, a System V and a POSIX message queue too (without it, they would be the machine's).
    queues = ("import ctypes, os\nlibc = ctypes.CDLL(None)\nlibc.msgget(0, 0o1600)\n"
              "libc.mq_open(b'/stash', os.O_CREAT | os.O_RDWR, 0o600, None)\n") if mode == "bwrap" else ""
    # Each may be denied (a worker may start no process): the code goes on to its end all the same.
    leaves = ("import subprocess, sys, torch\ntorch.carried = True\n" + queues
              + "".join(f"open({f!r}, 'w').write('x')\n" for f in files)
              + "try:\n    subprocess.Popen([sys.executable, '-c', "
              + f"{keeps_writing!r}, {MARK!r}], start_new_session=True)\nexcept OSError:\n    pass\n"
              + WRONG)
    right = "    " + RIGHT.replace("\n", "\n    ")
    finds = ("import os, time, torch\ntime.sleep(0.3)\n"
             f"seen = [p for p in {files + [alive]!r} if os.path.exists(p)]\n"
             "seen += ['torch'] * hasattr(torch, 'carried')\n"
             + ("seen += ['a queue'] * (len(open('/proc/sysvipc/msg').readlines()) > 1)\n"
                "import ctypes\nseen += ['a POSIX queue'] * (ctypes.CDLL(None).mq_open(b'/stash', os.O_RDONLY) >= 0)\n"
                if queues else "")
             + "print('seen:', seen)\nif seen:\n" + right + "\nelse:\n    " + WRONG)
    (tmp_path / "carry-1.ipynb").write_text(notebook(leaves))
    (tmp_path / "carry-2.ipynb").write_text(notebook(finds))
    done = subprocess.run([sys.executable, "-m", "backprop_ninja", "grade", str(tmp_path), "--gradebook",
                           str(tmp_path / "book.db"), "--jobs", "1", "--sandbox", mode, "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    leftovers = [pid for pid in filter(str.isdigit, os.listdir("/proc")) if MARK in _cmdline(pid)]
    for pid in leftovers:
        os.kill(int(pid), 9)
    first, second = (next(g for g in json.loads(done.stdout) if g["learner"] == learner)["results"][0]
                     for learner in ("carry-1", "carry-2"))
    assert first["errors"] == [], "the first ran to its end"
    assert second["output"].strip() == "seen: []"
    assert not second["passed"]
    assert leftovers == [] or (mode == "none" and Cgroup.create() is None), "without a cgroup it may escape"


def test_the_sandbox_works_for_a_python_under_tmp(tmp_path):
    """A virtualenv under /tmp (where CI makes one) is bound into the sandbox after its own /tmp,
    not hidden by it; a learner's code still finds /tmp empty and its own."""
    if find("auto")[0] is None:
        pytest.skip(f"bubblewrap does not work here: {find('auto')[1]}")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # The packages of the environment these tests run in (itself perhaps a virtualenv, whose base
    # interpreter has none of them), .pth files and all.
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    inner = subprocess.run([str(venv / "bin" / "python"), "-c", where],
                           capture_output=True, text=True, check=True).stdout.strip()
    outer = sysconfig.get_path("purelib")
    (Path(inner) / "outer.pth").write_text(f"import site; site.addsitedir({outer!r})\n")
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "ex2.py").write_text("import os\nprint(sorted(os.listdir('/tmp')))\n" + RIGHT)
    done = subprocess.run([str(tmp_path / "venv" / "bin" / "python"), "-m", "backprop_ninja", "grade",
                           str(tmp_path / "class"), "--gradebook", str(tmp_path / "book.db"), "--sandbox", "bwrap",
                           "--json"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)[0]["results"][0]
    # Only the (read-only) ways down to the virtualenv and to this package are there, and to the links its
    # bin/python goes through: Python 3.10's venv links it to the Python that made it, here a virtualenv's.
    links, python = [], venv / "bin" / "python"
    while python.is_symlink():
        links.append(python)
        python = python.parent.resolve() / os.readlink(python)
    ways_down = {p.relative_to("/tmp").parts[0] for p in (tmp_path, REPO, *links) if p.is_relative_to("/tmp")}
    assert result["passed"] and set(ast.literal_eval(result["output"].strip())) <= ways_down
