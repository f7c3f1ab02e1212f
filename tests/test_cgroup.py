"""The cgroup a zygote and its workers run in: a real one, where this machine lets the tests make
one, as `ninja grade` makes it."""
import os
import subprocess
import sys

import pytest

from backprop_ninja.engine.isolation.cgroup import PREFIX, Cgroup


@pytest.fixture
def cgroup():
    made = Cgroup.create()
    if made is None:
        pytest.skip("no cgroup can be made here (not root, or no cgroup filesystem to write)")
    yield made
    made.remove()


def test_every_process_in_it_is_ended_and_it_is_removed(cgroup):
    sleeper = subprocess.Popen(cgroup.command([sys.executable, "-c", "import os, time\nif os.fork() == 0:\n"
                                               "    os.setsid()\n    time.sleep(600)"]))
    sleeper.wait()  # the parent leaves at once; its detached child, forked at once too, is in the cgroup
    assert len(cgroup.pids()) == 1
    cgroup.remove()
    assert not any(folder.exists() for folder in cgroup.folders)


def test_a_killed_graders_empty_cgroups_are_removed_by_the_next(cgroup):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = [folder.parent / f"{PREFIX}{dead.pid}-0" for folder in cgroup.folders]
    for folder in stale:
        folder.mkdir()
    assert not os.path.exists(f"/proc/{dead.pid}")
    Cgroup.create().remove()
    assert not any(folder.exists() for folder in stale)
