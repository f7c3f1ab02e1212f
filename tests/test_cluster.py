"""`ninja grade --scheduler` on real Dask clusters on this machine: a LocalCluster, and a scheduler and
workers started with Dask's own commands; workers and clients killed mid-run; addresses that lead
nowhere."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import REPO, STEPS, counts, killed_mid_run_then_resumed, one_attempt_each

# Dask's own commands, `dask scheduler` and `dask worker`, from this Python.
DASK = [sys.executable, "-m", "dask", "scheduler"]
WORKER = [sys.executable, "-m", "dask", "worker"]


def grade_command(*args) -> list[str]:
    return [sys.executable, "-m", "backprop_ninja", "grade", *map(str, args)]


def by_submission(out: str) -> dict:
    return {g["submission"]: g for g in json.loads(out)}


class Cluster:
    """A scheduler on 127.0.0.1 and named workers, each `dask worker` a process group of its own."""

    def __init__(self, folder, workers: int):
        file = folder / "scheduler.json"
        self.processes = [subprocess.Popen([*DASK, "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                            "--scheduler-file", str(file)], **self._quiet())]
        deadline = time.monotonic() + 60
        while not file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)  # written whole
        self.address = json.loads(file.read_text())["address"]
        self.workers = {f"w{i}": subprocess.Popen([*WORKER, self.address, "--name", f"w{i}", "--nthreads", "1",
                                                   "--no-dashboard"], **self._quiet())
                        for i in range(workers)}
        self.processes += self.workers.values()
        if workers:
            with self.client() as client:
                client.wait_for_workers(workers, timeout=120)

    @staticmethod
    def _quiet() -> dict:
        return {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}

    def client(self):
        import distributed

        return distributed.Client(self.address, timeout=30)

    def kill_a_busy_worker(self, deadline: float) -> str | None:
        """SIGKILL the whole process group of a worker that is grading: the name of the one killed."""
        with self.client() as client:
            while time.monotonic() < deadline:
                names = {address: w["name"] for address, w in client.scheduler_info()["workers"].items()}
                busy = [names[address] for address, keys in client.processing().items() if keys]
                if busy:
                    os.killpg(self.workers[busy[0]].pid, signal.SIGKILL)
                    return busy[0]
                time.sleep(0.2)
        return None

    def stop(self) -> None:
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


@pytest.fixture
def cluster(tmp_path):
    started = []

    def start(workers: int = 2) -> Cluster:
        started.append(Cluster(tmp_path, workers))
        return started[-1]

    yield start
    for c in started:
        c.stop()


def test_a_local_cluster_grades_exactly_as_a_local_run(course, tmp_path, run_ninja):
    here = run_ninja("grade", course, "--gradebook", tmp_path / "here.db", "--steps", STEPS, "--json")
    there = run_ninja("grade", course, "--gradebook", tmp_path / "there.db", "--steps", STEPS, "--json",
                      "--scheduler", "local:2")
    assert here[0] == there[0] == 1, there[2]  # two submissions cannot be graded, on either
    assert by_submission(there[1]) == by_submission(here[1])
    assert counts(tmp_path / "there.db") == counts(tmp_path / "here.db")
    assert "[6/6]" in there[2]


def test_workers_started_with_dask_s_commands_grade_as_a_local_run(course, tmp_path, run_ninja, cluster):
    address = cluster(workers=2).address
    here = run_ninja("grade", course, "--gradebook", tmp_path / "here.db", "--steps", STEPS, "--json")
    there = run_ninja("grade", course, "--gradebook", tmp_path / "there.db", "--steps", STEPS, "--json",
                      "--scheduler", address)
    assert by_submission(there[1]) == by_submission(here[1]), there[2]


def test_a_worker_killed_while_it_grades_loses_nothing_and_duplicates_nothing(bigger_course, tmp_path, cluster):
    c = cluster(workers=2)
    db = tmp_path / "book.db"
    run = subprocess.Popen(grade_command(bigger_course, "--gradebook", db, "--steps", "300", "--json",
                                         "--scheduler", c.address), cwd=REPO, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    killed = c.kill_a_busy_worker(time.monotonic() + 120)
    out, err = run.communicate(timeout=600)
    assert killed is not None, "no worker was seen grading"
    graded = by_submission(out)
    assert len(graded) == 10 and sum(bool(g["error"]) for g in graded.values()) == 2, err  # carol's, dave's
    assert len(one_attempt_each(db)) == 10 and all(n == 1 for _, n in one_attempt_each(db))
    with sqlite3.connect(db) as c_:
        per_attempt = c_.execute("SELECT attempt, exercise, count(*) FROM grades GROUP BY attempt, exercise").fetchall()
    assert per_attempt and all(n == 1 for *_, n in per_attempt)
    assert all(r["passed"] for name, g in graded.items() if "extra" in name for r in g["results"])


def test_a_client_killed_mid_run_resumes_as_a_local_run_does(bigger_course, tmp_path, cluster):
    db = tmp_path / "book.db"
    address = cluster(workers=1).address
    command = grade_command(bigger_course, "--gradebook", db, "--steps", "300", "--scheduler", address)
    per_file = killed_mid_run_then_resumed(command, db)
    assert len(per_file) == 10 and all(n == 1 for _, n in per_file)


def test_an_unreachable_scheduler_is_a_clear_error_in_time(course, tmp_path, run_ninja):
    started = time.monotonic()
    code, out, err = run_ninja("grade", course, "--gradebook", tmp_path / "b.db", "--scheduler", "tcp://127.0.0.1:9",
                               "--connect-timeout", "3")
    assert code == 2 and "cannot reach a Dask scheduler at tcp://127.0.0.1:9 within 3 s" in err
    assert "Traceback" not in out + err and time.monotonic() - started < 60


def test_a_scheduler_with_no_workers_is_a_clear_error_in_time(course, tmp_path, run_ninja, cluster):
    address = cluster(workers=0).address
    code, out, err = run_ninja("grade", course, "--gradebook", tmp_path / "b.db", "--scheduler", address,
                               "--connect-timeout", "3")
    assert code == 2 and f"the Dask scheduler at {address} has no workers" in err and "Traceback" not in err


def test_without_distributed_the_scheduler_option_says_what_to_install(course, tmp_path):
    """As on a machine where the cluster extra is not installed: `distributed` cannot be imported."""
    shadow = tmp_path / "shadow" / "distributed"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named distributed')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow.parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(grade_command(course, "--gradebook", tmp_path / "b.db", "--scheduler", "local:2"),
                          cwd=REPO, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and 'pip install "backprop_ninja[cluster]"' in done.stderr


def test_without_the_scheduler_option_dask_is_not_imported(course, tmp_path):
    script = ("import sys\nfrom backprop_ninja.cli import main\n"
              f"try:\n    main(['grade', {str(course / 'erin')!r}, '--gradebook', {str(tmp_path / 'b.db')!r}])\n"
              "except SystemExit:\n    pass\nprint('distributed' in sys.modules, 'dask' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "False False", done.stderr


def test_a_worker_trains_autograd_s_twin_once_for_all_its_tasks(course, tmp_path, run_ninja, cluster):
    """Alice's and Bob's exercise 4 on one worker: the twin run, the same for both, is trained once."""
    c = cluster(workers=1)
    code, _, err = run_ninja("grade", course, "--gradebook", tmp_path / "b.db", "--steps", STEPS,
                             "--scheduler", c.address)
    assert code == 1, err
    with c.client() as client:
        (twin,) = client.run(lambda: __import__("backprop_ninja.engine.judging.convergence", fromlist=["twin_run"])
                             .twin_run.cache_info()._asdict()).values()
    assert (twin["misses"], twin["hits"]) == (1, 1)


def test_submissions_are_sent_a_few_at_a_time_and_all_come_back_once(course, tmp_path, monkeypatch):
    """With room for four in flight on one worker, six submissions: each sent as one finishes."""
    from backprop_ninja.engine.results.gradebook import Gradebook
    from backprop_ninja.grade import cluster as dask_grading, find_submissions, grade

    monkeypatch.setattr(dask_grading, "IN_FLIGHT", 1)
    with Gradebook(tmp_path / "b.db") as book:
        graded = grade(find_submissions([course]), book, 1, int(STEPS),
                       grader=dask_grading.on("local:1", "none"))
    assert len(graded) == 6 and len({g.submission for g in graded}) == 6 and not any(g.lost for g in graded)
    assert len(one_attempt_each(tmp_path / "b.db")) == 6


def test_a_file_gone_before_it_is_sent_is_graded_as_an_error_of_the_file(tmp_path):
    """As a local run says of it: no such file; stored, like any file that cannot be graded."""
    from backprop_ninja.grade import cluster as dask_grading

    gone = tmp_path / "gone.ipynb"
    ((task, graded),) = list(dask_grading.on("local:1", "none")([(gone, "ada", "0" * 64)], int(STEPS), None))
    assert graded.error == f"{gone}: no such file" and not graded.lost and task[0] == gone
