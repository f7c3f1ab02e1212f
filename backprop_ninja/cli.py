"""The `ninja` command (also `backprop-ninja` and `python -m backprop_ninja`).

Each command parses its options, calls one function of the package, renders, and exits:
0 when everything passed, 1 when something did not, 2 for a bad invocation or unreadable input.
"""
from __future__ import annotations

import difflib
import json
import os
import sys
import textwrap
import time
from pathlib import Path
from typing import NoReturn

import click

from . import __version__
from .engine.exercises.errors import PackError
from .engine.exercises.registry import place_of
from .engine.isolation.sandbox import MODES as SANDBOX_MODES, SandboxError, find
from .engine.results.gradebook import DEFAULT as DEFAULT_GRADEBOOK
from .engine.results.records import Scoring
from .grade import GRADE_STEPS, LEARNER_FROM  # torch-free, as everything imported before a command runs
from .report.text import SECTIONS as REPORT_SECTIONS

WORKDIR = "ninja-exercises"


def _searched(folder: Path) -> tuple[Path, Path]:
    """Where a learner's working copies are looked for, in this order: `folder`, then the folder
    `ninja init` writes in it. `ninja check` and `ninja status` both look here, so they agree."""
    return folder, folder / WORKDIR


def _working_copy(exercise) -> tuple[Path | None, str]:
    """The learner's copy of `exercise` in ./ or ./ninja-exercises/ (see `working_copy`), and a note
    on the choice when there was one to make."""
    from .check.stubs import working_copy

    return working_copy(exercise, _searched(Path(".")))


def _exercise(key: str, pack_file: Path | None = None):
    """The exercise `key`: of the pack in `pack_file` where given, else of the installed packs."""
    from .engine.exercises.registry import exercises, load_file

    found = {e.key: e for e in load_file(pack_file).exercises} if pack_file else exercises()
    if key not in found:
        raise click.BadParameter(f"{key!r} is not an exercise; choose from {', '.join(found)}", param_hint="EXERCISE")
    return found[key]


def _read(path: Path, exercise):
    """The learner's code in `path`; what they should know about how it was found goes to stderr."""
    from .engine.exercises.registry import answers
    from .engine.reading.cells import SubmissionError
    from .engine.reading.submission import read_submission

    try:
        submission = read_submission(path, exercise.key, answers())
    except SubmissionError as e:
        raise click.UsageError(str(e)) from None
    for warning in submission.warnings:
        click.echo(click.style("Warning: ", fg="yellow") + warning, err=True)
    return submission


def _threads(threads: int | None) -> None:
    from .engine.isolation.threads import use_threads

    use_threads(threads)


TIMEOUT_OPTION = click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
    help="Seconds an exercise's code may run in all (default 60; where it trains, ex4 and mlp, 60 more per 1000 "
         "training steps).")
THREADS_OPTION = click.option(
    "--threads", type=click.IntRange(min=1), default=None,
    help="Threads for torch (default 1, or OMP_NUM_THREADS if set): the tensors are small, and "
         "more threads only fight over a busy machine's cores.")


SCORING_OPTION = click.option(
    "--scoring", type=click.Choice([s.value for s in Scoring]), default=Scoring.STEPS.value, show_default=True,
    help="How a score is counted: steps, the share of gradients whose own step is right (one mistake costs "
         "one gradient, not every one after it); gradients, the share that pass; all, all or nothing. A full "
         "pass is 100% under each; percentages are rounded down.")


SANDBOX_OPTION = click.option(
    "--sandbox", "sandbox_mode", type=click.Choice(SANDBOX_MODES), default="auto", show_default=True,
    help="Run each submission in bubblewrap's sandbox: auto where it works here (else warn and go on "
         "without), bwrap always (else stop), none never.")


def _sandbox(mode: str):
    """The sandbox `mode` asks for, its warning said where grading goes on without one."""
    try:
        sandbox, warning = find(mode)
    except SandboxError as e:
        raise click.UsageError(f"{e} (--sandbox auto goes on without it, with a warning)") from None
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    return sandbox


def _progress(total: int, every: int):
    """Progress on stderr: one line rewritten in place on a terminal, a line now and then otherwise."""
    from .engine.exercises.training import Progress

    if sys.stderr.isatty():
        return Progress(total, lambda line: click.echo("\r" + line, nl=False, err=True), max(1, total // 200))
    return Progress(total, lambda line: click.echo(line, err=True), every)


class _Ninja(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # 130, as shells report a command ended by Ctrl-C; 1 would read "some gradients fail".
            click.echo("\nInterrupted.", err=True)
            ctx.exit(130)
        except PackError as e:  # a pack that is broken: the user's to fix, not a crash of ours
            raise click.UsageError(str(e)) from None


@click.group(cls=_Ninja, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="backprop_ninja")
def main() -> None:
    """Check hand-written backpropagation against PyTorch autograd.

    \b
    Start here:
      ninja init              copy the exercise stubs into ./ninja-exercises/
      ninja check ex1         check your ex1.py (or ex1.ipynb) there
      ninja status            where you stand: every exercise there, checked
      ninja list              what each exercise asks for
      ninja train             exercise 4 in full: train with your backward
      ninja grade FOLDER      for instructors: a class's notebooks into a gradebook
      ninja report            ... and where the class stands, from it
      ninja check-exercise F  ... and a pack of exercises of your own, validated

    `ninja` may be the Ninja build tool on your PATH too: `backprop-ninja` and
    `python -m backprop_ninja` are the same command.
    """


@main.command()
@click.argument("exercise")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--steps", type=click.IntRange(min=10), default=None,
              help="ex4, mlp: training steps of the convergence check (default 2000).")
@click.option("--hints", type=click.Choice(["off", "on", "fix", "all"]), default="on", show_default=True,
              help="Hints for the gradients whose own step is wrong (on), none, every gradient's, or (fix) "
                   "those and an edit of your line, found by running it, that makes the first wrong step right.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON, for scripts.")
@click.option("--html", "page", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="PAGE",
              help="Also write the report as an HTML page to PAGE, with a picture of where each wrong "
                   "gradient is wrong (the first six).")
@click.option("--color/--no-color", default=None, help="Force colour on or off (default: on for a terminal).")
@click.option("--pack", "pack_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A pack of your own: a .py file defining PACK (see the README), used without installing it.")
@TIMEOUT_OPTION
@THREADS_OPTION
def check(exercise: str, path: Path | None, steps: int | None, hints: str, as_json: bool,
          color: bool | None, pack_file: Path | None, timeout: float | None, threads: int | None,
          page: Path | None) -> None:
    """Compare every gradient of EXERCISE (ex1..ex4, bigram, mlp, micrograd) in PATH with autograd.

    \b
    PATH is your .py file, or a notebook whose answer cell is tagged
    backprop-ninja:EXERCISE. Without PATH, the first of ./ and
    ./ninja-exercises/ that holds EXERCISE.py or EXERCISE.ipynb is used,
    and in it the file you have changed from its stub (the .py if you
    changed both; a note then names the other).

    Your code runs on the lecture's own instance (for ex1: its batch of
    n=32, n_hidden=64, in float32) and on other sizes and seeds in float64:
    a gradient passes when it is approximately right (torch.allclose) on
    all of them, so a hard-coded 32 or a shape that only broadcasts does
    not pass. "exact" (bit-equal) is shown for the lecture's instance, as
    information. `ninja list` shows every pack's exercises; --pack checks
    against a pack of your own (see `ninja check-exercise --help`).

    \b
    Where something is wrong, your code is run a second time with every
    gradient replaced by the right one as soon as your code has finished
    it: a gradient's "own step" is then right or wrong on its own, the
    first wrong one is the root cause, and the kind of mistake is named
    (sign, scale, transpose, wrong-axis, missing-branch, shape, ...).
    --hints fix also shows the smallest edit of your lines that makes
    that first wrong step right, found by running edits of them (=/+=,
    keepdim, the axis, a sign, a transpose, a factor of the sizes, a
    size for a number, a missing += line, ...): only one that was run
    and found right on every instance is shown.

    For ex4 the gradients are checked at points along a training run, then
    your backward trains the network next to a twin run driven by autograd
    (same start, same batches): it passes when its loss curve tracks the
    twin's.

    For micrograd, PATH defines a Value class: each op's _backward is
    checked alone, and backward() on whole expressions, one row per op.

    Your code runs in a separate process, under a time limit (--timeout)
    and a memory limit: it never sees the right answers, and a process it
    ends or a loop that never stops is a failed check, not a hang.

    --html PAGE writes the report as a page for a browser too (the same
    as the in-notebook check shows), with, for up to six wrong gradients
    (the root cause first), a picture of your gradient minus autograd's
    on the lecture's instance: blue below, white equal, red above, the
    worst entry outlined. One wrong row, an error the same along the
    batch, a transposed half: each shows at a glance. A PAGE that cannot
    be written is bad input.

    Exit status: 0 all gradients pass, 1 some do not, 2 bad input.
    """
    from .engine.isolation.zygote_client import start_workers

    start_workers()  # first: the workers' zygote imports torch while this process does the same
    from .check.render import render, render_page
    from .check.stubs import render_py
    from .engine.judging.convergence import DEFAULT_STEPS
    from .engine.judging.verdict import check as run_check
    from .engine.reading.cells import Snippet

    definition = _exercise(exercise, pack_file)
    if page:
        _writable(page)  # before the check, which may take minutes: a wrong folder is said at once
    _threads(threads)
    note = ""
    if path is None:
        path, note = _working_copy(definition)
    if note:
        click.echo(f"Note: {note}", err=True)
    submission = None
    if path is None:
        snippets = (Snippet(render_py(definition), f"{exercise}.py (untouched stub)"),)
        source = snippets[0].origin
        heading = (f"No working copy of {exercise} here or in ./{WORKDIR}/, so this checks the "
                   "untouched stub.\nRun `ninja init` to get your own copies to edit.")
    else:
        submission = _read(path, definition)
        snippets, source = submission.snippets, str(path)
        heading = f"Checking {path}" + (f" ({submission.found})" if submission.found else "")
    steps = steps or DEFAULT_STEPS
    progress = _progress(steps, every=max(1, steps // 4)) if sys.stderr.isatty() else None
    result = run_check(definition, snippets, source, steps=steps, progress=progress, timeout=timeout,
                       reading=submission, fix=hints == "fix")
    if progress:
        click.echo("\r\033[K", nl=False, err=True)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        no_color = color is None and os.environ.get("NO_COLOR")  # the convention at no-color.org
        click.echo(render(result, heading, hints), color=False if no_color else color)
    if page:
        try:
            page.write_text(render_page(result, heading, hints), encoding="utf-8")
        except OSError as e:
            _unwritable(page, e.strerror or str(e))
        click.echo(f"Wrote the report to {page}.", err=True)
    sys.exit(0 if result.passed else 1)


def _writable(page: Path) -> None:
    """Stop with exit status 2 where `page` cannot be written: its folder missing, or not writable.
    (os.path's tests, which say False where pathlib's may raise, for a name too long.)"""
    folder = page.parent
    if not os.path.isdir(folder):
        _unwritable(page, f"no folder {folder}")
    if not os.access(folder, os.W_OK) or (os.path.exists(page) and not os.access(page, os.W_OK)):
        _unwritable(page, "permission denied")


def _unwritable(page: Path, why: str) -> NoReturn:
    click.echo(f"Error: cannot write the HTML page {page}: {why}", err=True)
    sys.exit(2)


@main.command()
@click.argument("folder", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--steps", type=click.IntRange(min=10), default=None,
              help="ex4, mlp: training steps of the convergence check (default 2000, as ninja check).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per exercise, in a list, for scripts.")
@TIMEOUT_OPTION
@THREADS_OPTION
def status(folder: Path, steps: int | None, as_json: bool, timeout: float | None, threads: int | None) -> None:
    """Where you stand: every exercise whose file is in FOLDER, checked.

    \b
    Examples:
      ninja status              your files in ./ or ./ninja-exercises/
      ninja status ~/makemore   ... in ~/makemore or ~/makemore/ninja-exercises/
      ninja status --json       the same rows for a script

    \b
    FOLDER (default: here) is searched as `ninja check` searches: for
    each installed exercise (`ninja list`), FOLDER itself, then
    FOLDER/ninja-exercises/, for EXERCISE.py or EXERCISE.ipynb, the one
    you changed from its stub first. Each exercise found is a row:
      status  passed; failing; in progress (right so far, gradients
              still to write); not started (still the stub `ninja init`
              wrote, not checked); unreadable (and why)
      score   the share of gradients whose own step is right, in whole
              percent, rounded down: only a pass is 100%
      next    the first gradient that does not pass: "write dX", or
              "fix dX" with the root cause's kind of mistake

    \b
    Each file is checked as `ninja check EXERCISE FILE` checks it, and
    its result kept in your cache folder ($XDG_CACHE_HOME/backprop-ninja
    or ~/.cache/backprop-ninja; BACKPROP_NINJA_CACHE_DIR moves it), by
    the file's content, the exercise, this version and the options that
    change a check: the next run checks only the files changed since
    ("cached" in --json says which results came from the cache).

    --json prints a list of objects with the keys exercise, file,
    status, passed, percent, next, gradient and kind (of that next
    step, or null), cached and error (why a file is unreadable, or
    null).

    Exit status: 0 every exercise found passes, 1 some do not, 2 bad
    input: FOLDER does not exist, or holds no exercise file at all,
    which is most likely the wrong folder rather than work that fails
    (as `ninja report` says of an empty gradebook); it says how to start.
    """
    from .engine.isolation.zygote_client import start_workers

    start_workers()  # first: the workers' zygote imports torch while this process does the same
    from .check.status import Cache, cache_folder, nothing_found, render_status, survey
    from .engine.judging.convergence import DEFAULT_STEPS

    _threads(threads)
    rows = survey(_searched(folder), Cache(cache_folder(), __version__), steps or DEFAULT_STEPS, timeout,
                  say=lambda line: click.echo(line, err=True))
    if not rows:
        click.echo(nothing_found(folder, WORKDIR), err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps([row.to_dict() for row in rows], indent=2))
    else:
        click.echo(render_status(rows, folder), color=False if os.environ.get("NO_COLOR") else None)
    sys.exit(0 if all(row.passed for row in rows) else 1)


@main.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--exercise", "key", default=None, metavar="EXERCISE",
              help="The exercise whose training stage to run (default: the one PATH's name says, else the "
                   "first with a training stage, ex4).")
@click.option("--autograd", is_flag=True, help="Train with loss.backward() instead of a backward file.")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Training steps (default: the exercise's whole run, 200,000 for ex4 and mlp).")
@click.option("--data", "data_file", type=click.Path(path_type=Path), default=None,
              help="Words to train on, one per line, a-z (default: the built-in corpus).")
@click.option("--samples", type=click.IntRange(min=0), default=20, show_default=True,
              help="Names to sample from the trained model.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON, for scripts.")
@click.option("--pack", "pack_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A pack of your own: a .py file defining PACK, used without installing it.")
@THREADS_OPTION
def train(path: Path | None, key: str | None, autograd: bool, steps: int | None, data_file: Path | None,
          samples: int, as_json: bool, pack_file: Path | None, threads: int | None) -> None:
    """Run an exercise's training stage in full, with the backward pass in PATH.

    \b
    For ex4, the lecture's run: n_hidden 200, batch 32, 200,000 steps, lr
    0.1 then 0.01 from half way, under torch.no_grad(); then batchnorm
    calibrated over the whole training set, the train and val losses, and
    sampled names. With the lecture's names.txt (--data names.txt) expect
    about 2.07 train / 2.11 val. `--exercise mlp` trains part 2's MLP.

    PATH is your backward's file (default: your working copy of the
    exercise, as `ninja check` finds it); --autograd trains with
    loss.backward() instead, for comparison.
    """
    from .engine.isolation.zygote_client import start_workers

    if not autograd:
        start_workers()  # first: the workers' zygote imports torch while this process does the same
    from .engine.exercises.registry import load_file
    from .engine.exercises.training import DataError, autograd_backward
    from .engine.isolation.runner import LearnerCode, Session

    if autograd and path:
        raise click.UsageError("give either a PATH to train with, or --autograd, not both")
    _threads(threads)
    exercise = _training_exercise(key, path, load_file(pack_file).exercises if pack_file else None)
    stage = exercise.training
    if not autograd:
        path = path or _working_copy(exercise)[0]
        if path is None:
            raise click.UsageError(f"no working copy of {exercise.key} here or in ./{WORKDIR}/: give the PATH "
                                   "of your backward, or --autograd")
    try:
        dataset = stage.data(data_file)
    except DataError as e:
        raise click.UsageError(str(e)) from None
    # None with --autograd; else the working copy found above, or a usage error was raised.
    snippets = _read(path, exercise).snippets if path else None
    steps = steps or stage.steps
    if not as_json:
        click.echo(f"Training with {'autograd' if autograd else path} on {dataset.source}: "
                   f"{dataset.train[0].shape[0]:,} training examples")
        click.echo(textwrap.fill(f"{exercise.key}, {steps:,} steps: {stage.description}", 88,
                                 subsequent_indent="  "))
    run = stage.run(dataset.train)
    progress = _progress(steps, every=10_000)
    start = time.perf_counter()
    if snippets is None:
        run.train(autograd_backward(exercise.forward), steps, progress=progress)
        params = run.params
    else:  # the learner's backward, and so the whole loop, runs in a worker process
        X, Y = dataset.train
        with Session(timeout=None) as session:
            params, stopped = session.train(LearnerCode(snippets, session), exercise.key, place_of(exercise.key),
                                            steps, X, Y, run.params, progress, progress.every)
        if stopped:
            click.echo(f"\nTraining stopped at step {stopped[0]}: {stopped[1]}", err=True)
            sys.exit(1)
    seconds = time.perf_counter() - start
    if sys.stderr.isatty():
        click.echo("", err=True)
    result = stage.evaluate(params, dataset, samples)
    if as_json:
        click.echo(json.dumps({"exercise": exercise.key, "backward": "autograd" if autograd else str(path),
                               "steps": steps, "data": dataset.source, "steps_per_second": steps / seconds,
                               "train_loss": result.train_loss, "val_loss": result.val_loss,
                               "samples": list(result.samples)}, indent=2))
    else:
        click.echo(f"{steps} steps in {seconds:.1f} s ({steps / seconds:.0f} steps/s)\n"
                   f"train {result.train_loss:.4f}\nval   {result.val_loss:.4f}\n")
        click.echo("\n".join(result.samples))


def _training_exercise(key: str | None, path: Path | None, own: tuple | None):
    """The exercise to train: `key`; else the one `path`'s name says; else the first with a training
    stage (of the pack in --pack where given, else of the installed packs)."""
    from .engine.exercises.registry import exercises

    found = {e.key: e for e in own} if own is not None else exercises()
    trains = {k: e for k, e in found.items() if e.training is not None}
    if key is None:
        key = path.stem if path is not None and path.stem in trains else next(iter(trains), None)
        if key is None:
            raise click.UsageError("no exercise has a training stage")
    if key not in trains:
        raise click.BadParameter(f"{key!r} is not an exercise with a training stage; choose from "
                                 f"{', '.join(trains) or 'none'}", param_hint="--exercise")
    return trains[key]


@main.command()
@click.argument("directory", default=WORKDIR, type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite stubs that are already there.")
def init(directory: Path, force: bool) -> None:
    """Write fresh exercise stubs (.py and .ipynb) into DIRECTORY to edit.

    DIRECTORY defaults to ./ninja-exercises. Files already there are kept
    unless --force is given, so your work is never overwritten by accident.
    """
    from .check.stubs import render_stubs
    from .engine.exercises.registry import exercises

    directory.mkdir(parents=True, exist_ok=True)
    for exercise in exercises().values():
        for name, text in render_stubs(exercise).items():
            target = directory / name
            if target.exists() and not force:
                click.echo(f"kept     {target} (already there; --force overwrites)")
                continue
            target.write_text(text, encoding="utf-8")
            click.echo(f"wrote    {target}")
    where = "" if directory == Path(WORKDIR) else f" {directory / 'ex1.py'}"
    click.echo(f"\nNext: edit {directory / 'ex1.py'} (or the notebook), then run `ninja check ex1{where}`.")


@main.command()
@click.argument("submissions", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--gradebook", "gradebook_path", type=click.Path(dir_okay=False, path_type=Path),
              default=DEFAULT_GRADEBOOK, show_default=True, help="The SQLite gradebook to write.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Submissions graded at once (default: the number of cores).")
@click.option("--steps", type=click.IntRange(min=10), default=GRADE_STEPS, show_default=True,
              help="ex4, mlp: training steps of the convergence check.")
@click.option("--learner-from", type=click.Choice(LEARNER_FROM), default="auto", show_default=True,
              help="Who a file is from: auto is nbgrader's submitted/<learner>/... folder, else the "
                   "file's name without its suffix; stem and folder always take that one.")
@TIMEOUT_OPTION
@SANDBOX_OPTION
@click.option("--scheduler", metavar="ADDRESS|local:N", default=None,
              help="Grade on a Dask cluster: its scheduler's address (tcp://host:8786), or local:N for a "
                   "cluster of N worker processes started for the run; --jobs is then the cluster's. "
                   'Needs pip install "backprop_ninja[cluster]".')
@click.option("--connect-timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="--scheduler: seconds to reach the scheduler and find a worker there before giving up.")
@SCORING_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per submission, in a list.")
def grade(submissions: tuple[Path, ...], gradebook_path: Path, jobs: int | None, steps: int,
          learner_from: str, timeout: float | None, sandbox_mode: str, scheduler: str | None,
          connect_timeout: float, scoring: str, as_json: bool) -> None:
    """Grade a class's SUBMISSIONS into a gradebook.

    \b
    SUBMISSIONS are notebooks, .py files, folders of them, or nbgrader's
    submitted/<learner>/<assignment>/ folders. Every exercise found in a
    file is graded as `ninja check` grades it: in a notebook, the cells
    tagged backprop-ninja:exN, or, in a notebook written the lecture's
    way, the cells found by what they assign. Each check runs the code in
    a worker process of its own, with time, memory, file-size and process
    limits, inside bubblewrap's sandbox where it works: no network, no
    files but Python's and its own empty folders, no other process, and,
    when run as root, a uid of its own.

    \b
    Results go to the gradebook (SQLite), a row per attempt and exercise,
    each attempt written whole as it finishes. A submission graded before
    with the same content and the same version is skipped, so an
    interrupted run picks up where it stopped; a changed resubmission is
    a new attempt.

    \b
    With --scheduler, each submission is one task on a Dask cluster,
    graded by the same engine in the sandbox of the worker's host; only
    this process writes the gradebook, and a task whose worker dies is run
    again elsewhere, its grade stored once.

    Exit status: 0 every submission graded (whatever its score), 1 some
    could not be graded, 2 bad input.
    """
    from .engine.reading.cells import SubmissionError
    from .engine.results.display import visible
    from .engine.results.gradebook import Gradebook, GradebookError
    from .engine.results.records import whole_percent
    from .grade import Graded, cluster, find_submissions, grade as grade_all, render_grading

    # On a cluster, each worker finds the sandbox on its own host.
    sandbox = _sandbox(sandbox_mode) if scheduler is None else None
    grader = cluster.on(scheduler, sandbox_mode, connect_timeout) if scheduler else None

    def progress(done: Graded, count: int, total: int) -> None:
        what = "skipped, graded before" if done.skipped else done.error or ", ".join(
            f"{r.exercise} {whole_percent(r.score_by(Scoring(scoring)))}%"
            + (f" ({r.stop.words})" if r.stop and not r.passed else "") for r in done.results)
        click.echo(visible(f"[{count}/{total}] {done.learner}: {what}"), err=True)

    try:
        files = find_submissions(list(submissions))  # before the gradebook: bad input creates nothing
        if not files:
            raise SubmissionError(f"no submissions in {', '.join(map(str, submissions))}: "
                                  f"nothing to grade (.ipynb or .py files, or folders of them)")
        with Gradebook(gradebook_path) as book:
            graded = grade_all(files, book, jobs or os.cpu_count() or 1, steps, learner_from,
                               progress, timeout, sandbox, grader)
    except (GradebookError, SubmissionError, cluster.ClusterError) as e:
        raise click.UsageError(str(e)) from None
    if as_json:
        click.echo(json.dumps([g.to_dict() for g in graded], indent=2))
    else:
        click.echo(render_grading(graded, gradebook_path, Scoring(scoring)))
    sys.exit(1 if any(g.error for g in graded) else 0)


@main.command()
@click.option("--submission", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The learner's upload (default /autograder/submission).")
@click.option("--results", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where results.json goes (default /autograder/results).")
@click.option("--pack", default=None,
              help="The pack whose exercises are the assignment's tests (default makemore4; `ninja list`).")
@click.option("--points", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Points per exercise (default 25: 100 for makemore4's four).")
@TIMEOUT_OPTION
@click.option(
    "--sandbox", "sandbox_mode", type=click.Choice(SANDBOX_MODES), default="bwrap", show_default=True,
    help="Run the upload in bubblewrap's sandbox: bwrap grades only there, and where it does not work writes a "
         "results.json with score 0 that says why; none grades without it (for an instructor's own trial on a "
         "machine without bubblewrap); auto uses it where it works, else warns and goes on without.")
@SCORING_OPTION
def gradescope(submission: Path | None, results: Path | None, pack: str | None, points: float | None,
               timeout: float | None, sandbox_mode: str, scoring: str) -> None:
    """Grade one Gradescope submission into Gradescope's results.json.

    This is what grader/run_autograder runs on Gradescope: every exercise
    found in the upload is graded as `ninja grade` grades it (same
    isolation), and each exercise of the pack is one test, scored as
    --scoring says, with the check's table as its output.
    Run it locally with --submission and --results.

    The upload runs only in the sandbox: where bubblewrap does not work,
    nothing is graded, and results.json scores 0 and says why (the exit
    status is still 0: the autograder ran). --sandbox none grades without
    it, for a trial of your own.

    A submission folder that is missing or empty is an error: results.json
    scores 0 and says so, and the exit status is 2.
    """
    from .engine.exercises.registry import packs
    from .grade import gradescope as contract

    pack = pack or contract.PACK
    if pack not in packs():
        raise click.BadParameter(f"{pack!r} is not a pack; choose from {', '.join(packs())}", param_hint="--pack")
    results, points = results or contract.RESULTS, points or contract.POINTS
    missing = contract.missing_upload(submission or contract.SUBMISSION)
    if missing:  # never a silent 0: results.json tells the learner why; the log and the exit status, the instructor
        contract.no_upload(results, pack, points, missing)
        click.echo(f"Not graded: {missing}", err=True)
        sys.exit(2)
    try:
        sandbox, warning = find(sandbox_mode)
    except SandboxError as e:  # fail closed: nothing runs unconfined, and the learner is told why
        contract.refuse(results, pack, points, str(e))
        click.echo(f"Not graded: {e}", err=True)
        return
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    payload = contract.autograde(submission or contract.SUBMISSION, results, pack, points, timeout, sandbox,
                                 Scoring(scoring))
    click.echo(f"score {payload['score']:g} of {payload['max_score']:g}: "
               + ", ".join(f"{t['name'].split(':')[0]} {t['score']:g}" for t in payload["tests"]))


@main.command(name="check-exercise")
@click.argument("pack")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON, for scripts.")
def check_exercise(pack: str, as_json: bool) -> None:
    """Validate a pack of exercises: yours (a .py file) or an installed one.

    \b
    PACK is a .py file that defines PACK (the README's "Writing a pack"
    walks through the bigram pack), or the name of an installed pack
    (`ninja list`). It passes when, for every exercise:
      - every gradient is the gradient of a tensor on the loss's graph;
      - the stubs render, and the untouched stub fails cleanly;
      - the reference solution passes on every instance;
    and every known-wrong solution fails with its declared root cause
    and kind of mistake. A built-in pack's reference and known-wrong
    solutions are read from the repository's reference/ folder, which
    is not installed with the package.

    Exit status: 0 all hold, 1 some do not, 2 bad input.
    """
    from .check.pack import validate
    from .engine.exercises.registry import load_file, packs
    from .engine.isolation.zygote_client import start_workers

    start_workers()
    path = Path(pack)
    if path.suffix == ".py" or path.exists():
        definition = load_file(path)
    elif pack in packs():
        definition = packs()[pack]
    else:
        raise click.BadParameter(f"{pack!r} is neither a .py file nor an installed pack ({', '.join(packs())})",
                                 param_hint="PACK")
    findings = validate(definition)
    if as_json:
        click.echo(json.dumps([{"subject": f.subject, "ok": f.ok, "detail": f.detail} for f in findings], indent=2))
    else:
        from tabulate import tabulate

        rows = [[click.style("ok", fg="green") if f.ok else click.style("FAIL", fg="red"), f.subject, f.detail]
                for f in findings]
        click.echo(tabulate(rows, headers=["", f"pack {definition.name}", ""], disable_numparse=True))
        failed = sum(not f.ok for f in findings)
        ready = " The pack is ready." if not failed else ""
        click.echo(f"\n{len(findings) - failed} of {len(findings)} hold.{ready}")
    sys.exit(0 if all(f.ok for f in findings) else 1)


REPORT_FORMATS = ("table", "markdown", "csv", "json", "html", "canvas", "points")


def _exercise_points(values: tuple[str, ...]) -> tuple[float, dict[str, float]]:
    """--points N (every exercise) and --points KEY=N (one): the default and the exceptions."""
    default, given = None, {}
    for value in values:
        key, _, number = value.rpartition("=")
        try:
            points = float(number)
        except ValueError:
            points = -1.0
        if not points > 0:
            raise click.BadParameter(f"{value!r}: give points as N or EXERCISE=N, N above 0", param_hint="--points")
        if key:
            given[key] = points
        else:
            default = points
    return (default if default is not None else 25.0), given


@main.command()
@click.option("--gradebook", "gradebook_path", type=click.Path(dir_okay=False, path_type=Path),
              default=DEFAULT_GRADEBOOK, show_default=True, help="The gradebook `ninja grade` wrote.")
@click.option("--format", "fmt", type=click.Choice(REPORT_FORMATS), default="table", show_default=True,
              help="table for a terminal; markdown; csv, a row per learner and a column per exercise's best "
                   "score in percent, for a spreadsheet; json for a script; html, one page with plots; canvas, "
                   "points in Canvas's gradebook import layout; points, points per exercise and a total "
                   "(Moodle's CSV import, any LMS).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the report to this file instead of the standard output.")
@click.option("--learner", default=None, help="One learner's attempts, and their latest root cause, kind "
              "of mistake and hint per exercise (with table, markdown or json).")
@click.option("--section", "sections", type=click.Choice(REPORT_SECTIONS), multiple=True,
              help="Only these parts of the table or Markdown report (repeatable; default: class, "
                   "gradients and progress).")
@click.option("--feedback", "feedback_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write one Markdown feedback file per learner, <learner>.md, into this folder.")
@click.option("--title", default=None, help="The report's title, after \"Class report:\" (table, markdown, html; "
              "default: the name of the folder the submissions came from, else the gradebook's).")
@SCORING_OPTION
@click.option("--points", "points_given", multiple=True, metavar="N|EXERCISE=N",
              help="canvas, points: an exercise's points (default 25 each; repeatable, EXERCISE=N for one).")
@click.option("--hints", type=click.Choice(["on", "fix"]), default="on", show_default=True,
              help="With --learner or --feedback: the first wrong step's hint (on), or that and the edit of the "
                   "learner's line the grading found to make it right (fix).")
def report(gradebook_path: Path, fmt: str, output: Path | None, learner: str | None,
           sections: tuple[str, ...], feedback_dir: Path | None, title: str | None, scoring: str,
           points_given: tuple[str, ...], hints: str) -> None:
    """Report on a class from its gradebook: where it stands, what to teach again.

    \b
    The report has three parts, and a fourth when asked for:
      class      a row per learner: each exercise's best score, whether
                 it passed, and the attempts; totals per exercise
      gradients  per gradient, in backprop order: how many learners got it
                 right at their first attempt, later, or never, and the
                 kinds of mistake most often made in it
      progress   a row per learner: their attempts' dates and how each
                 exercise's score moved
      similar    groups of learners whose answers share what answers
                 rarely share (the same rare wrong values, rare code
                 written alike): to review, never a grade

    \b
    Examples:
      ninja report                          the class, in the terminal
      ninja report --section gradients      what to teach again
      ninja report --section similar        answers to look at side by side
      ninja report --learner ada            ada's history and feedback
      ninja report --format csv --output grades.csv
      ninja report --format html --output report.html
      ninja report --feedback feedback/     feedback/<learner>.md each
      ninja report --feedback fb/ --hints fix   ... each with the fix found

    The gradebook is only read, never written, and may be read while
    `ninja grade` is writing it.
    """
    from .engine.results.gradebook import GradebookError
    from .report.feedback import write_feedback
    from .report.summary import read_report
    from .report.text import DEFAULT_SECTIONS, learner_view, render, to_csv

    if learner and fmt not in ("table", "markdown", "json"):
        raise click.UsageError("--learner works with --format table, markdown or json")
    if sections and fmt not in ("table", "markdown"):
        raise click.UsageError("--section works with --format table or markdown")
    if points_given and fmt not in ("canvas", "points"):
        raise click.UsageError("--points works with --format canvas or points")
    try:
        summary = read_report(gradebook_path, hints=bool(learner or feedback_dir) or fmt == "json",
                              scoring=Scoring(scoring),
                              similar="similar" in sections or (fmt == "json" and not learner),
                              fixes=hints == "fix")
    except GradebookError as e:
        raise click.UsageError(str(e)) from None
    if not summary.learners:
        raise click.UsageError(f"{gradebook_path}: no attempts in it yet")
    if feedback_dir:
        written = write_feedback(summary, feedback_dir)
        click.echo(f"Wrote {len(written)} feedback file(s) into {feedback_dir}.", err=True)
        if output is None and fmt == "table" and not learner and not sections:
            return  # the files were what was asked for
    if learner:
        one = summary.learner(learner)
        if one is None:
            close = difflib.get_close_matches(learner, [x.learner for x in summary.learners], n=3)
            raise click.UsageError(f"no learner {learner!r} in {gradebook_path}"
                                   + (f"; did you mean {', '.join(close)}?" if close else ""))
        text = (json.dumps(one.to_dict(), indent=2) + "\n" if fmt == "json"
                else learner_view(summary, one, markdown=fmt == "markdown"))
    elif fmt == "csv":
        text = to_csv(summary)
    elif fmt in ("canvas", "points"):
        from .report.lms import out_of, to_canvas, to_points_csv

        default, given = _exercise_points(points_given)
        unknown = set(given) - set(summary.exercises)
        if unknown:
            raise click.BadParameter(f"no exercise {', '.join(sorted(unknown))} in {gradebook_path} "
                                     f"({', '.join(summary.exercises)})", param_hint="--points")
        text = (to_canvas if fmt == "canvas" else to_points_csv)(summary, out_of(summary, given, default))
    elif fmt == "json":
        text = json.dumps(summary.to_dict(), indent=2) + "\n"
    elif fmt == "html":
        from .report.html import render_html

        text = render_html(summary, title)
    else:
        text = render(summary, sections or DEFAULT_SECTIONS, markdown=fmt == "markdown", title=title)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote the {fmt} report to {output}.", err=True)


@main.command(name="list")
def list_exercises() -> None:
    """List the packs, their exercises, and the gradients each one asks for."""
    from .engine.exercises.registry import packs

    for pack in packs().values():
        click.echo(click.style(f"{pack.name}: {pack.title}", bold=True))
        for exercise in pack.exercises:
            click.echo(click.style(f"  {exercise.key}  {exercise.title}", bold=True))
            click.echo(f"       {len(exercise.gradients)} gradient(s): {', '.join(exercise.names)}")
