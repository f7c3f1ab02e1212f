import subprocess
import sys
from pathlib import Path

import pytest

from backprop_ninja.threads import use_threads

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
