"""No worked solution is within reach of the code being checked. A learner's bigram.py looks for one
wherever it could: every module the worker has imported (their attributes, what those hold, the
literals of their functions), every file of the package folder it imported them from, and the
repository's reference/ folder beside it. Run in the real worker, by `ninja check`'s path
(no sandbox) and by `ninja grade`'s in bubblewrap, it finds none; given a line the package does hold,
the same search finds it, in memory and on disk, and raises."""
import base64
import json
import re
import subprocess
import sys

import pytest
from conftest import solution_lines

from backprop_ninja.check import check
from backprop_ninja.engine.reading.cells import Snippet
from backprop_ninja.engine.isolation.sandbox import find
from backprop_ninja.packs.bigram import BIGRAM

# Searched for on the lecture's instance only (N=5, V=27), once per run. The lines looked for come
# base64-encoded, so that the search's own source is no hit; a string equal to one of them is the
# search's own too. A hit raises: the check then shows the error.
SEARCH = '''\
import base64, os, re, sys, types, warnings
if (N, V) == (5, 27):
    warnings.simplefilter("ignore")  # touching a deprecated object of torch's warns
    wanted = base64.b64decode({encoded!r}).decode().split("\\n")
    pattern = re.compile("|".join(map(re.escape, wanted)))
    package = os.path.dirname(sys.modules["backprop_ninja"].__file__)
    seen, found = set(), []

    def strings(root, depth):
        """The strings reachable from root, depth objects down (modules are searched on their own)."""
        stack = [(root, depth)]
        while stack:
            value, depth = stack.pop()
            if isinstance(value, str):
                yield value
            elif depth and id(value) not in seen and not isinstance(value, types.ModuleType):
                seen.add(id(value))
                if isinstance(value, dict):
                    items = [*value.keys(), *value.values()]
                elif isinstance(value, (list, tuple, set, frozenset)):
                    items = list(value)
                elif isinstance(value, types.CodeType):
                    items = list(value.co_consts)
                elif isinstance(value, types.FunctionType):
                    items = [value.__code__, value.__defaults__, value.__kwdefaults__, value.__dict__]
                else:
                    attributes = getattr(value, "__dict__", None)
                    items = list(attributes.values()) if hasattr(attributes, "values") else []
                stack += [(item, depth - 1) for item in items]

    def ours(name, module):
        where = getattr(module, "__file__", None) or ""
        return name.startswith("backprop_ninja") or where.startswith(package)

    modules = sorted(sys.modules.items(), key=lambda item: not ours(*item))  # the grader's own first, deepest
    for name, module in modules:
        for text in strings(getattr(module, "__dict__", {{}}), 10 if ours(name, module) else 3):
            if text not in wanted and pattern.search(text):
                found.append(f"module {{name}}")
                break
    files = 0
    for folder, _, names in os.walk(package):
        for file_name in names:
            with open(os.path.join(folder, file_name), "rb") as f:
                files += 1
                if pattern.search(f.read().decode("utf-8", errors="ignore")):
                    found.append(f"file {{os.path.join(folder, file_name)}}")
    try:
        beside = os.listdir(os.path.join(os.path.dirname(package), "reference"))
    except OSError:
        beside = None
    if found:
        raise RuntimeError("worked solutions within reach: " + ", ".join(found))
    print(f"searched {{len(modules)}} modules and {{files}} files of the package: nothing;",
          "reference folder:", "out of reach" if beside is None else "readable")
'''


def search(lines: list[str]) -> str:
    """A bigram.py that searches the worker for `lines`, and answers nothing."""
    return SEARCH.format(encoded=base64.b64encode("\n".join(lines).encode()).decode())


def every_solution_line() -> list[str]:
    return [line for lines in solution_lines().values() for line in lines]


def test_the_search_finds_what_the_package_does_hold():
    """Text the package holds by design, found: a line of the worker's own message, in memory (no
    pack is loaded where nothing trains), and a line of the bigram pack's forward pass, in its file."""
    held = ["is a hand-written backward pass: autograd", "counts_sum_inv = counts_sum**-1"]
    result = check(BIGRAM, (Snippet(search(held), "bigram.py"),))
    (error,) = {e.raised.exception for e in result.errors}
    assert "worked solutions within reach" in error and "module backprop_ninja.engine.isolation.bars" in error, error
    assert "/packs/bigram.py" in error


def test_no_worked_solution_is_within_reach_of_the_code_being_checked():
    result = check(BIGRAM, (Snippet(search(every_solution_line()), "bigram.py"),))
    assert not result.errors, result.errors
    searched = re.search(r"searched (\d+) modules and (\d+) files of the package: nothing;", result.output)
    assert searched and int(searched[1]) > 100 and int(searched[2]) > 30, result.output


def test_nor_in_the_sandbox_where_even_the_repository_s_reference_folder_is_out_of_reach(tmp_path):
    if find("auto")[0] is None:
        pytest.skip(f"bubblewrap does not work here: {find('auto')[1]}")
    (tmp_path / "class" / "ada").mkdir(parents=True)
    (tmp_path / "class" / "ada" / "bigram.py").write_text(search(every_solution_line()))
    done = subprocess.run([sys.executable, "-m", "backprop_ninja", "grade", str(tmp_path / "class"), "--gradebook",
                           str(tmp_path / "book.db"), "--sandbox", "bwrap", "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    (graded,) = json.loads(done.stdout)
    (result,) = graded["results"]
    assert result["errors"] == [], result["errors"]
    assert ": nothing; reference folder: out of reach" in result["output"], result["output"]
