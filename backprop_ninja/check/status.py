"""`ninja status`: where a learner stands, one row per exercise whose file is in their folder, each
checked as `ninja check` checks it. A file checked before and unchanged since is not checked again:
its result comes from a cache in the user's cache folder, keyed by all that decides it."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import click
from tabulate import MIN_PADDING, tabulate

from ..engine.exercises.exercise import Exercise
from ..engine.exercises.registry import answers, exercises
from ..engine.judging.verdict import check
from ..engine.reading.answers import Submission
from ..engine.reading.cells import SubmissionError
from ..engine.reading.submission import read_submission
from ..engine.results.display import visible
from ..engine.results.records import MISSING, NOT_DEFINED, PASS, CheckResult, Scoring, Stop, whole_percent
from .stubs import is_untouched, working_copy

# Where cached checks go instead of the user's cache folder (a test's own folder, say).
CACHE_ENV = "BACKPROP_NINJA_CACHE_DIR"
WIDTH = 88

# A row's status, as `--json` shows it.
PASSED, FAILING, IN_PROGRESS, NOT_STARTED, UNREADABLE = "passed", "failing", "in-progress", "not-started", "unreadable"
_STYLE = {PASSED: ("passed", "green"), FAILING: ("failing", "red"), IN_PROGRESS: ("in progress", "yellow"),
          NOT_STARTED: ("not started", None), UNREADABLE: ("unreadable", "magenta")}


def cache_folder() -> Path:
    """Where cached checks go: checks/ in $BACKPROP_NINJA_CACHE_DIR where set, else where a user's
    cache goes, backprop-ninja/ in $XDG_CACHE_HOME (an absolute one, as the XDG spec has it), else
    in ~/.cache."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]) / "checks"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "backprop-ninja" / "checks"


def check_key(exercise: Exercise, path: Path, content: bytes, steps: int, timeout: float | None, version: str) -> dict:
    """All that decides a check's result: the file's content and suffix (which says how it is read),
    the exercise, this version of the checker, and the settings that reach the check (the training
    steps where the exercise trains, the time limit)."""
    return {"exercise": exercise.key, "suffix": path.suffix, "sha256": hashlib.sha256(content).hexdigest(),
            "version": version, "steps": steps if exercise.training else None,
            "time_limit": timeout or exercise.time_limit(steps)}


class Cache:
    """Check results in `folder`, a JSON file each, named by its key's hash and holding the key and
    the result (`CheckResult.to_dict()`). A file that does not read back, or holds another key or
    another exercise's result, is a miss: the file is checked again, never trusted."""

    def __init__(self, folder: Path, version: str) -> None:
        self.folder = folder
        self.version = version  # the checker's, which every key holds

    def file(self, key: dict) -> Path:
        return self.folder / f"{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()}.json"

    def load(self, key: dict, names: tuple[str, ...]) -> CheckResult | None:
        """The result stored under `key`, if there is one for the exercise whose gradients are `names`."""
        try:
            entry = json.loads(self.file(key).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            return None
        if not isinstance(entry, dict) or entry.get("key") != key or not isinstance(entry.get("result"), dict):
            return None
        try:
            result = CheckResult.from_dict(entry["result"])
        except Exception:  # whatever a damaged or foreign file holds: a miss, never a traceback
            return None
        return result if result.exercise == key["exercise"] and _names(result) == names else None

    def store(self, key: dict, result: CheckResult) -> None:
        """Store `result` under `key` atomically: a reader finds the old file or the new one whole."""
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as f:
                json.dump({"key": key, "result": result.to_dict()}, f)
            os.replace(temporary, self.file(key))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise


def _names(result: CheckResult) -> tuple[str, ...]:
    return tuple(g.name for g in result.gradients)


@dataclass(frozen=True)
class NextStep:
    """What to do next in an exercise: in words, and the gradient and kind of mistake it is about."""

    text: str
    gradient: str | None = None
    kind: str | None = None


# Code that stopped so is not diagnosed: where it stopped is what to fix first.
_STOPPED = {Stop.SYNTAX_ERROR: "fix the syntax error at {}", Stop.PROCESS_ENDED: "your code ends its process at {}",
            Stop.TIME_LIMIT: "your code runs out of time at {}",
            Stop.WORKER_ERROR: "what your code left could not be read back ({})"}


def next_step(result: CheckResult) -> NextStep | None:
    """The first gradient, in the exercise's order, that does not pass: to write where it is missing,
    to fix where it is wrong, with the root cause's kind where the result names one; or where the
    code stopped, where that stopped it short of a diagnosis (it does not parse, it never finishes)."""
    if result.passed:
        return None
    stop = result.errors[0].raised if result.errors else None
    if stop and stop.stop in _STOPPED:
        return NextStep(_STOPPED[stop.stop].format(stop.where), stop.gradient, stop.stop.value)
    first = next((g for g in result.gradients if g.status not in (PASS, NOT_DEFINED)), None)
    if first is None:
        return NextStep("training with your gradients does not track autograd")
    if first.status == MISSING and first.diagnosis is None:
        slip = f" (you wrote {first.written_as})" if first.written_as else ""
        return NextStep(f"write {first.name}{slip}", first.name)
    root = result.root
    kind = root.diagnosis.kind.value if root else first.diagnosis.kind.value if first.diagnosis else None
    because = f": root cause {root.name}" if root and root.name != first.name else ""
    return NextStep(f"fix {first.name}{because}" + (f" ({kind})" if kind else ""), first.name, kind)


@dataclass(frozen=True)
class Row:
    """Where the learner stands in one exercise."""

    exercise: str
    path: Path
    status: str
    percent: int | None = None  # the score under the default policy, `Scoring.STEPS`; None where not checked
    next: NextStep | None = None
    cached: bool = False  # the result came from the cache, not from a check run now
    error: str = ""  # why the file could not be read

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def to_dict(self) -> dict:
        return {"exercise": self.exercise, "file": str(self.path), "status": self.status, "passed": self.passed,
                "percent": self.percent, "next": self.next.text if self.next else None,
                "gradient": self.next.gradient if self.next else None, "kind": self.next.kind if self.next else None,
                "cached": self.cached, "error": self.error or None}


def _row(path: Path, result: CheckResult, cached: bool) -> Row:
    graded = [g for g in result.gradients if g.status != NOT_DEFINED]
    # Right so far, with gradients still to write, is not wrong (as `ninja check` says it).
    so_far = not result.errors and all(g.status in (PASS, MISSING) for g in graded)
    status = PASSED if result.passed else IN_PROGRESS if so_far else FAILING
    return Row(result.exercise, path, status, whole_percent(result.score_by(Scoring.STEPS)), next_step(result),
               cached)


def survey(folders: tuple[Path, ...], cache: Cache, steps: int, timeout: float | None = None,
           say: Callable[[str], None] = lambda line: None) -> list[Row]:
    """A row for every installed exercise with a file in `folders`, found as `ninja check` finds it:
    an untouched stub is not started; a file checked before and unchanged since has its result from
    `cache`; any other is checked now (`steps`, `timeout` as for `ninja check`) and its result stored.
    What happens goes to `say`, a line at a time."""
    rows: dict[str, Row] = {}
    due: list[tuple[Exercise, Path, bytes, dict, Submission]] = []
    for exercise in exercises().values():
        path, note = working_copy(exercise, folders)
        if path is None:
            continue
        if note:
            say(f"Note: {note}")
        if is_untouched(path, exercise):
            rows[exercise.key] = Row(exercise.key, path, NOT_STARTED,
                                     next=NextStep(f"write {exercise.names[0]}", exercise.names[0]))
            continue
        try:
            content = path.read_bytes()
            key = check_key(exercise, path, content, steps, timeout, cache.version)
            result = cache.load(key, exercise.names)
            if result is None:
                due.append((exercise, path, content, key, read_submission(path, exercise.key, answers())))
            else:  # the same content may have been checked under another name
                rows[exercise.key] = _row(path, replace(result, source=str(path)), cached=True)
                say(f"{exercise.key}: {path} unchanged since it was checked")
        except (OSError, SubmissionError) as e:  # its row names the file already
            rows[exercise.key] = Row(exercise.key, path, UNREADABLE,
                                     error=str(e.strerror or e) if isinstance(e, OSError)
                                     else str(e).removeprefix(f"{path}: "))
    unwritable = False
    for number, (exercise, path, content, key, submission) in enumerate(due, start=1):
        for warning in submission.warnings:
            say(f"Warning: {exercise.key}: {warning}")
        training = f", with {steps} training steps" if exercise.training else ""
        say(f"[{number}/{len(due)}] checking {exercise.key}: {path}{training}")
        start = time.perf_counter()
        result = check(exercise, submission.snippets, str(path), steps=steps, timeout=timeout, reading=submission)
        row = rows[exercise.key] = _row(path, result, cached=False)
        say(f"[{number}/{len(due)}] {exercise.key}: {_STYLE[row.status][0]}, {row.percent}% "
            f"({time.perf_counter() - start:.1f} s)")
        if not _unchanged(path, content):  # changed while it was read: its result is not the key's
            continue
        try:
            cache.store(key, result)
        except OSError as e:
            if not unwritable:
                say(f"Warning: cannot write the cache in {cache.folder} ({e.strerror or e}): "
                    "each run checks every file again")
            unwritable = True
    return [rows[key] for key in exercises() if key in rows]


def _unchanged(path: Path, content: bytes) -> bool:
    try:
        return path.read_bytes() == content
    except OSError:
        return False


def nothing_found(folder: Path, workdir: str) -> str:
    """What to say where `folder` holds no exercise's file: where it looked, and how to start."""
    here = folder == Path(".")
    where, stubs = ("./", f"./{workdir}/") if here else (f"{folder}/", f"{folder / workdir}/")
    init, status = ("ninja init", "ninja status") if here else (f"ninja init {folder / workdir}",
                                                                  f"ninja status {folder}")
    return "\n".join(textwrap.wrap(
        f"No exercise file in {where} or {stubs} (EXERCISE.py or EXERCISE.ipynb, for any of "
        f"{', '.join(exercises())}). To start, run `{init}`: it writes every exercise's stubs into {stubs}; "
        f"edit {folder / workdir / 'ex1.py'}, then run `{status}` again.", WIDTH, break_on_hyphens=False))


def render_status(rows: list[Row], folder: Path) -> str:
    """The rows as a table for a terminal, at most 88 columns wide, and what to do next."""
    headers = ["exercise", "file", "status", "score", "next"]
    table = [[row.exercise, _relative(row.path, folder), click.style(*_STYLE[row.status]),
              "-" if row.percent is None else f"{row.percent}%", row.error or (row.next.text if row.next else "-")]
             for row in rows]
    # The last column wraps in what the others (a header padded as tabulate pads it) and the two spaces
    # between columns leave of the width.
    widths = [max(len(headers[i]) + MIN_PADDING, *(len(click.unstyle(cells[i])) for cells in table)) for i in range(4)]
    room = max(WIDTH - sum(widths) - 2 * len(widths), 16)
    for cells in table:
        cells[4] = "\n".join(textwrap.wrap(visible(cells[4]), room, break_on_hyphens=False))
    lines = [] if folder == Path(".") else [visible(f"In {folder}/:"), ""]
    lines.append(tabulate(table, headers=headers, disable_numparse=True,
                          colalign=("left", "left", "left", "right", "left")))
    passed = sum(row.passed for row in rows)
    advice = textwrap.fill(visible(f"{passed} of {len(rows)} passed." + _advice(rows, folder)), WIDTH,
                           break_on_hyphens=False)
    return "\n".join(lines + ["", advice])


def _relative(path: Path, folder: Path) -> str:
    """`path` as the table shows it: from `folder`, which its heading names."""
    return visible(str(path.relative_to(folder)))


def _advice(rows: list[Row], folder: Path) -> str:
    """The command that says more: of the first exercise begun and not passed, else of the first not begun."""
    begun = next((row for row in rows if row.status in (FAILING, IN_PROGRESS, UNREADABLE)), None)
    if begun:
        return f" For the whole of {begun.exercise}: `{_check_command(begun, folder)}`."
    waiting = next((row for row in rows if row.status == NOT_STARTED), None)
    if waiting:
        return f" Next: edit {waiting.path}, then run `{_check_command(waiting, folder)}`."
    return ""


def _check_command(row: Row, folder: Path) -> str:
    """`ninja check` for `row`'s file, without its path where `ninja check` finds it by itself."""
    return f"ninja check {row.exercise}" + ("" if folder == Path(".") else f" {row.path}")
