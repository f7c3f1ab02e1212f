import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from backprop_ninja.cli import main
from backprop_ninja.engine.threads import use_threads

# As the command does: torch on one thread, which is several times faster on a busy machine.
use_threads()

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "reference"


@pytest.fixture
def run_ninja():
    """Run the real command in a real subprocess: returns (exit code, stdout, stderr)."""

    def run(*args, cwd=REPO):
        done = subprocess.run([sys.executable, "-m", "backprop_ninja", *map(str, args)],
                              cwd=cwd, capture_output=True, text=True, timeout=300)
        return done.returncode, done.stdout, done.stderr

    return run


@pytest.fixture
def ninja(monkeypatch):
    """The command run in this process, with click's runner: (exit code, stdout, stderr). What the
    command does is the same; only a real process start is left out (`run_ninja` has one)."""

    def run(*args, cwd=REPO):
        monkeypatch.chdir(cwd)
        result = CliRunner().invoke(main, [str(a) for a in args])
        return result.exit_code, result.stdout, result.stderr

    return run
