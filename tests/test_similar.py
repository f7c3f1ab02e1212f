"""Answers shared across a class: the normal form of an answer's code (names, comments, spacing and the
order of independent lines set aside), the rarity that weighs what learners share, and the groups a
report flags for review, strongest first; then a generated class graded for real, where two learners
share a rare mistake under other names and four a common slip."""
import json
import math
from datetime import datetime, timezone

import pytest
from conftest import REFERENCE

from backprop_ninja.engine.reading.cells import Snippet
from backprop_ninja.engine.reading.normal import normal_form, normal_texts
from backprop_ninja.engine.results.gradebook import Attempt, Gradebook, read_snapshot
from backprop_ninja.engine.results.records import (FAIL, PASS, CheckResult, Comparison, Diagnosis, GradientResult,
                                                   Kind)
from backprop_ninja.report.similar import most_rare, rarity, threshold
from backprop_ninja.report.summary import summarize
from backprop_ninja.report.text import render

fast = pytest.mark.fast

# What an exercise gives and grades: never replaced by a placeholder.
GIVEN = frozenset({"torch", "n", "bndiff", "bndiff2", "bnvar_inv", "dbnvar", "dbnraw", "dbndiff2", "dbndiff",
                   "C", "dC", "Xb", "demb"})
ANSWER = """
inv_n = 1.0 / n  # not n - 1
ones = torch.ones_like(bndiff2)
dbndiff2 = inv_n * ones * dbnvar
dbndiff = bnvar_inv * dbnraw
dbndiff += (2 * bndiff) * dbndiff2
"""
# The same under other names, comments and spacing, its independent lines in another order.
ANSWER_RENAMED = """
dbndiff = bnvar_inv*dbnraw    # the direct use first
o = torch.ones_like( bndiff2 )
scale=1.0/n
dbndiff2 = scale*o*dbnvar
dbndiff += (2*bndiff)*dbndiff2
"""


def _form(*sources: str) -> tuple[str, ...]:
    return normal_form(tuple(Snippet(source, f"cell {i}") for i, source in enumerate(sources)), GIVEN)


@fast
def test_renamed_temporaries_comments_spacing_and_order_give_the_same_normal_form():
    assert _form(ANSWER) == _form(ANSWER_RENAMED) and len(_form(ANSWER)) == 5
    texts = list(normal_texts((Snippet(ANSWER, "ex1.py"),), GIVEN))
    assert texts[2].startswith("dbndiff2 = ") and "v_" in texts[2]
    assert not any("inv_n" in text or "#" in text for text in texts)
    # the same code split across two cells, as a notebook would have it
    first, rest = ANSWER.split("dbndiff2 =", 1)
    assert _form(first, "dbndiff2 =" + rest) == _form(ANSWER)


@fast
def test_a_different_expression_is_a_different_statement_and_so_is_what_uses_it():
    bessel = _form(ANSWER.replace("1.0 / n", "1.0 / (n - 1)"))
    assert len(set(bessel) - set(_form(ANSWER))) == 2, "the temporary, and the line computing dbndiff2 from it"
    assert len(set(_form(ANSWER.replace("2 * bndiff", "bndiff / 2"))) - set(_form(ANSWER))) == 1


@fast
def test_the_ways_a_line_is_written_alike_by_chance_are_one_form():
    """The operands of + and * in another order, and 1.0 for 1, are how learners differ by chance."""
    assert _form(ANSWER.replace("2 * bndiff", "bndiff * 2")) == _form(ANSWER)
    assert _form("dbnraw = dhpreact * bngain\n") == _form("dbnraw = bngain*dhpreact\n")
    assert _form("dhpreact = (1.0 - h**2) * dh\n") == _form("dhpreact = dh * (1 - h**2)\n")
    assert _form("dhpreact = (1.0 - h**2) * dh\n") != _form("dhpreact = (h**2 - 1.0) * dh\n")


@fast
def test_loop_variables_a_helpers_parameters_and_a_with_block_are_normalised_too():
    loop = ("dC = torch.zeros_like(C)\nfor k in range(Xb.shape[0]):\n    for j in range(Xb.shape[1]):\n"
            "        ix = Xb[k, j]\n        dC[ix] += demb[k, j]\n")
    renamed = ("with torch.no_grad():\n    dC = torch.zeros_like(C)\n    for b in range(Xb.shape[0]):\n"
               "        for t in range(Xb.shape[1]):  # each character\n            row = Xb[b, t]\n"
               "            dC[row] += demb[b, t]\n")
    assert _form(loop) == _form(renamed)
    assert _form(loop) != _form(loop.replace("dC[ix] +=", "dC[ix] ="))
    helper = "def scaled(t, k):\n    return t * k\ndbndiff2 = scaled(torch.ones_like(bndiff2), 1.0 / n) * dbnvar\n"
    other = "def times(x, f):  # a helper\n    return x*f\ndbndiff2 = times(torch.ones_like(bndiff2), 1.0/n)*dbnvar\n"
    assert _form(helper) == _form(other) and _form(helper) != _form(helper.replace("t * k", "t / k"))


@fast
def test_no_work_adds_nothing_and_code_that_does_not_parse_is_left_out():
    stubbed = '"""My answer."""\ndC = None\npass\n' + ANSWER
    assert _form(stubbed) == _form(ANSWER)
    assert _form(ANSWER, "dbndiff2 = (") == _form(ANSWER)


@fast
def test_a_result_keeps_its_normal_form_through_json():
    result = CheckResult("ex1", "ex1.py", (), (), normal_form=("0123456789ab",))
    assert result.to_dict()["normal_form"] == ["0123456789ab"]
    assert CheckResult.from_dict(json.loads(json.dumps(result.to_dict()))).normal_form == ("0123456789ab",)
    assert CheckResult.from_dict({**result.to_dict(), "normal_form": None}).normal_form == ()  # an older result


@fast
def test_rarity_weighs_what_few_share_and_nothing_the_class_has_in_common():
    assert rarity(2, 100) == pytest.approx(math.log(50)) and rarity(10, 100) == pytest.approx(math.log(10))
    assert rarity(1, 100) == 0.0, "held by one learner, shared by none"
    assert rarity(11, 100) == 0.0 and rarity(50, 100) == 0.0, "more than a tenth of the class: common"
    assert most_rare(8) == 2 and most_rare(20) == 3 and most_rare(100) == 10
    assert rarity(2, 8) == pytest.approx(math.log(4)) and rarity(3, 8) == 0.0
    # a rare mistake and the line that makes it are not enough alone; one more rare thing in common is
    assert 2 * rarity(2, 30) < threshold(30) < 3 * rarity(2, 30)
    assert threshold(1) == math.inf


GRADIENTS = ("dcounts", "dh", "dbndiff2", "dC")
INSTANCES = 4
COMMON = tuple(f"common{i}" for i in range(10))  # statements the whole class writes alike


def _answer(code: tuple[str, ...], wrong: dict[str, tuple[float, ...]] | None = None,
            kind: Kind = Kind.LOCAL) -> CheckResult:
    """An ex1 result whose gradients in `wrong` have their own step wrong, with those maxdiffs on the
    instances (a 0 is right there), and whose code's normal form is `code`."""
    wrong = wrong or {}
    gradients = []
    for name in GRADIENTS:
        diffs = wrong.get(name, (0.0,) * INSTANCES)
        instances = tuple(Comparison(FAIL if d else PASS, (4, 3), (4, 3), not d, not d, d) for d in diffs)
        status = FAIL if name in wrong else PASS
        gradients.append(GradientResult(name, status, (4, 3), (4, 3), not diffs[0], not diffs[0], diffs[0], "", "",
                                        instances, status, Diagnosis(kind, name) if name in wrong else None))
    return CheckResult("ex1", "ex1.py", tuple(gradients), (), normal_form=COMMON + code)


RARE_MISTAKE = {"dbndiff2": (0.01234, 0.002345, 0.0031, 0.0042)}
SLIP = {"dcounts": (0.5, 0.25, 0.125, 0.0625)}


@pytest.fixture(scope="module")
def class_book(tmp_path_factory):
    """A class of 30: ann and abe share a rare mistake and four rare statements; cat, cal and cy another
    and two statements; dee and dan only a rare mistake and the line that makes it; eve shared ann's
    once, then handed in a right answer; twelve share the common slip and its line; gus and gwen used
    autograd (right values that fail); fay and fin have five rare right statements in common, as many
    as chance gives, hal and hap six; the rest are right, all writing the class's common lines."""
    answers = {
        "ann": _answer(("a1", "a2", "a3", "a4", "slip-free"), RARE_MISTAKE),
        "abe": _answer(("a1", "a2", "a3", "a4", "own"), RARE_MISTAKE),
        **{name: _answer(("c1", "c2"), {"dh": (1.5, 2.5, 3.5, 0.0)}) for name in ("cat", "cal", "cy")},
        **{name: _answer(("d1",), {"dC": (7.0, 7.0, 7.0, 7.0)}) for name in ("dee", "dan")},
        **{f"slip{i:02d}": _answer(("slip",), SLIP, Kind.MISSING_BRANCH) for i in range(12)},
        **{name: _answer(("autograd",), {g: (0.0,) * INSTANCES for g in GRADIENTS}, Kind.AUTOGRAD_USED)
           for name in ("gus", "gwen")},
        **{name: _answer(tuple(f"f{i}" for i in range(5))) for name in ("fay", "fin")},
        **{name: _answer(tuple(f"h{i}" for i in range(6))) for name in ("hal", "hap")},
        **{f"ok{i}": _answer(()) for i in range(4)},
    }
    path = tmp_path_factory.mktemp("similar") / "gradebook.db"
    with Gradebook(path) as book:
        book.store(Attempt("eve", "eve/ex1.py", "e1", datetime(2026, 10, 1, tzinfo=timezone.utc),
                           (_answer(("a1", "a2", "a3", "a4"), RARE_MISTAKE),)), "0")
        book.store(Attempt("eve", "eve/ex1.py", "e2", datetime(2026, 10, 2, tzinfo=timezone.utc), (_answer(()),)), "0")
        for learner, result in answers.items():
            book.store(Attempt(learner, f"{learner}/ex1.py", learner, datetime(2026, 10, 1, tzinfo=timezone.utc),
                               (result,)), "0")
    assert len(answers) + 1 == 30
    return path


@fast
def test_groups_strongest_first_and_not_what_the_class_has_in_common(class_book):
    similar = summarize(read_snapshot(class_book, answers=True)).similar
    assert [group.learners for group in similar] == [("hal", "hap"), ("abe", "ann"), ("cal", "cat", "cy")]
    code, pair, trio = similar
    assert code.gradients == () and code.evidence == "6 rare statements in common"
    assert pair.gradients == ("dbndiff2",) and pair.statements == 4
    assert pair.strength == pytest.approx(5 * math.log(30 / 2))
    assert pair.evidence == ("the same wrong dbndiff2 on all 4 instances (shared by 2 of 30 learners); "
                             "4 rare statements in common")
    assert trio.evidence == ("the same wrong dh on 3 of 4 instances (shared by 3 of 30 learners); "
                             "2 rare statements in common")
    assert trio.strength == pytest.approx(3 * math.log(30 / 3)) and trio.strength > threshold(30)


@fast
def test_the_report_lists_them_as_a_section_of_its_own_and_in_its_json(class_book):
    report = summarize(read_snapshot(class_book, answers=True))
    assert report.to_dict()["similar"][1] == {
        "exercise": "ex1", "learners": ["abe", "ann"], "gradients": ["dbndiff2"], "statements": 4,
        "evidence": report.similar[1].evidence, "strength": round(5 * math.log(15), 2)}
    text = render(report, sections=("similar",))
    assert "Similar answers: to review, never a grade" in text and "it is not a grade" in text
    assert "1. ex1: hal, hap (strength 16.2)\n   6 rare statements in common" in text
    assert "2. ex1: abe, ann (strength 13.5)\n   the same wrong dbndiff2 on all 4 instances" in text
    assert "3. ex1: cal, cat, cy (strength 6.9)" in text
    assert "\n   - the same wrong dh on 3 of 4" in render(report, sections=("similar",), markdown=True)
    assert "Similar answers" not in render(report), "only when asked for"
    unread = summarize(read_snapshot(class_book))
    assert unread.similar == () and unread.to_dict()["similar"] == []
    assert "None: no answers are alike" in render(unread, sections=("similar",))


def test_a_class_graded_for_real_flags_the_rare_mistake_shared_not_the_common_slip(run_ninja, tmp_path):
    """rina and rolf both write dbndiff2 with 1/n where 1/(n-1) belongs, through a temporary each names
    otherwise, with other comments and spacing, and rolf's defined elsewhere; four learners write
    dcounts = where dcounts += belongs; gil and gus are right."""
    body = (REFERENCE / "ex1.py").read_text().split('"""', 2)[2]
    bessel = "dbndiff2 = (1.0 / (n - 1)) * torch.ones_like(bndiff2) * dbnvar\n"
    slip = ("dcounts += torch.ones_like(counts) * dcounts_sum\n", "dcounts = torch.ones_like(counts) * dcounts_sum\n")
    assert bessel in body and slip[0] in body
    answers = {
        "rina": body.replace(bessel, "# the batch's spread\ninv_n = 1.0 / n\n"
                                     "dbndiff2 = inv_n * torch.ones_like(bndiff2) * dbnvar  # chain rule\n"),
        "rolf": "scale = 1.0/n   # used below\n"
                + body.replace(bessel, "dbndiff2 = scale*torch.ones_like( bndiff2 )*dbnvar\n"),
        **{name: body.replace(*slip) for name in ("sam", "sue", "sid", "sky")},
        "gil": body,
        "gus": "# my answer\n" + body.replace("+=", " +=  "),
    }
    for learner, text in answers.items():
        (tmp_path / "submitted" / learner).mkdir(parents=True)
        (tmp_path / "submitted" / learner / "ex1.py").write_text(text)
    book = tmp_path / "book.db"
    code, out, err = run_ninja("grade", tmp_path / "submitted", "--gradebook", book, "--jobs", "2")
    assert code == 0 and "8 graded now" in out, err

    code, out, err = run_ninja("report", "--gradebook", book, "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    kinds = {(d["gradient"], k["kind"]): k["learners"] for d in report["gradients"] for k in d["kinds"]}
    assert kinds[("dcounts", "missing-branch")] == 4, "the slip is graded alike: a common mistake"
    assert [(g["learners"], g["gradients"]) for g in report["similar"]] == [(["rina", "rolf"], ["dbndiff2"])]
    assert "shared by 2 of 8 learners" in report["similar"][0]["evidence"]

    code, out, err = run_ninja("report", "--gradebook", book, "--section", "similar")
    assert code == 0, err
    groups = [line for line in out.splitlines() if line[:1].isdigit()]
    assert len(groups) == 1 and groups[0].startswith("1. ex1: rina, rolf (strength ") and "not a grade" in out
