"""The stubs in exercises/ are rendered from the exercise definitions and must stay in sync."""
import nbformat
import pytest
from conftest import REPO

from backprop_ninja.check.stubs import render_stubs
from backprop_ninja.engine.exercises.registry import exercises
from backprop_ninja.engine.reading.cells import notebook_tag

pytestmark = pytest.mark.fast  # pure pieces: the fast tier

EXERCISES = exercises()


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_committed_stubs_match_the_definitions(key):
    for name, text in render_stubs(EXERCISES[key]).items():
        committed = (REPO / "exercises" / name).read_text(encoding="utf-8")
        assert committed == text, f"exercises/{name} is stale: run `python -m backprop_ninja init exercises --force`"


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_stub_notebooks_are_valid_and_tag_one_answer_cell(key):
    notebook = nbformat.read(str(REPO / "exercises" / f"{key}.ipynb"), as_version=4)
    nbformat.validate(notebook)
    tagged = [c for c in notebook.cells if notebook_tag(key) in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].source == EXERCISES[key].template()


def test_a_forward_exercise_s_stub_has_one_line_per_gradient():
    for key in ("ex1", "bigram"):
        template = EXERCISES[key].template()
        assert [line.split(" = None")[0] for line in template.splitlines()] == list(EXERCISES[key].names)


def test_notebook_setup_cell_gives_the_lectures_tensors_without_answers():
    from backprop_ninja import exercise_namespace

    ns = exercise_namespace("ex3")
    assert tuple(ns["hprebn"].shape) == (32, 64) and "dhpreact" in ns and "dhprebn" not in ns
