"""The `ninja` command (also `backprop-ninja` and `python -m backprop_ninja`)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__

EXERCISE_KEYS = ("ex1", "ex2", "ex3")
WORKDIR = "ninja-exercises"


def _working_copy(key: str) -> Path | None:
    """The learner's copy of `key`: the most recently edited of ./KEY.py, ./KEY.ipynb and the same
    in ./ninja-exercises/."""
    candidates = [Path(d) / f"{key}{suffix}" for d in (".", WORKDIR) for suffix in (".py", ".ipynb")]
    found = [p for p in candidates if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="backprop_ninja")
def main() -> None:
    """Check hand-written backpropagation against PyTorch autograd.

    \b
    Start here:
      ninja init              copy the exercise stubs into ./ninja-exercises/
      ninja check ex1         check your ex1.py (or ex1.ipynb) there
      ninja list              what each exercise asks for

    `ninja` may be the Ninja build tool on your PATH too: `backprop-ninja` and
    `python -m backprop_ninja` are the same command.
    """


@main.command()
@click.argument("exercise", type=click.Choice(EXERCISE_KEYS))
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON, for scripts.")
@click.option("--color/--no-color", default=None, help="Force colour on or off (default: on for a terminal).")
def check(exercise: str, path: Path | None, as_json: bool, color: bool | None) -> None:
    """Compare every gradient of EXERCISE in PATH with PyTorch autograd.

    PATH is your .py file, or a notebook whose answer cell is tagged
    backprop-ninja:EXERCISE. Without PATH, your working copy is found in
    the current directory or in ./ninja-exercises/.

    Your code runs on the lecture's own batch (n=32, n_hidden=64, float32)
    and on other sizes and seeds in float64: a gradient passes when it is
    approximately right (torch.allclose) on all of them, so a hard-coded
    32 or a shape that only broadcasts does not pass. "exact" (bit-equal)
    is shown for the lecture's instance, as information.

    Exit status: 0 all gradients pass, 1 some do not, 2 bad input.
    """
    from .check import check as run_check
    from .exercises import EXERCISES
    from .render import render
    from .stubs import render_py
    from .submission import Snippet, SubmissionError, read_submission

    definition = EXERCISES[exercise]
    if path is None:
        path = _working_copy(exercise)
    if path is None:
        snippets = (Snippet(render_py(definition), f"{exercise}.py (untouched stub)"),)
        source = snippets[0].origin
        heading = (f"No working copy of {exercise} here or in ./{WORKDIR}/, so this checks the "
                   "untouched stub.\nRun `ninja init` to get your own copies to edit.")
    else:
        try:
            snippets = read_submission(path, exercise)
        except SubmissionError as e:
            raise click.UsageError(str(e)) from None
        source = str(path)
        heading = f"Checking {path}"
    result = run_check(definition, snippets, source)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(render(result, heading), color=color)
    sys.exit(0 if result.passed else 1)


@main.command()
@click.argument("directory", default=WORKDIR, type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite stubs that are already there.")
def init(directory: Path, force: bool) -> None:
    """Write fresh exercise stubs (.py and .ipynb) into DIRECTORY to edit.

    DIRECTORY defaults to ./ninja-exercises. Files already there are kept
    unless --force is given, so your work is never overwritten by accident.
    """
    from .exercises import EXERCISES
    from .stubs import render_stubs

    directory.mkdir(parents=True, exist_ok=True)
    for exercise in EXERCISES.values():
        for name, text in render_stubs(exercise).items():
            target = directory / name
            if target.exists() and not force:
                click.echo(f"kept     {target} (already there; --force overwrites)")
                continue
            target.write_text(text, encoding="utf-8")
            click.echo(f"wrote    {target}")
    where = "" if directory == Path(WORKDIR) else f" {directory / 'ex1.py'}"
    click.echo(f"\nNext: edit {directory / 'ex1.py'} (or the notebook), then run `ninja check ex1{where}`.")


@main.command(name="list")
def list_exercises() -> None:
    """List the exercises and the gradients each one asks for."""
    from .exercises import EXERCISES

    for exercise in EXERCISES.values():
        click.echo(click.style(f"{exercise.key}  {exercise.title}", bold=True))
        click.echo(f"     {len(exercise.gradients)} gradient(s): {', '.join(exercise.names)}")
