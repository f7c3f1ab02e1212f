"""The picture of a wrong gradient's error, from tensors made by hand: the map puts an error where it
is (one row, constant along the batch), names its axes by the instance's sizes, finds the worst
entry, shrinks a big tensor without losing a lone error or its sign, comes back the same through
JSON, and draws as an SVG whose text is shown, never obeyed. The terminal report does not change."""
import json
import math
import xml.etree.ElementTree as ElementTree

import pytest
import torch

from backprop_ninja.check.picture import caption, colour, render_picture
from backprop_ninja.check.render import render, render_html, render_page
from backprop_ninja.engine.judging.picture import MOST_CELLS, error_map
from backprop_ninja.engine.judging.verdict import MOST_PICTURES, _pictured
from backprop_ninja.engine.results.records import (CheckResult, Comparison, Diagnosis, ErrorMap, GradientResult,
                                                   InstanceInfo, Kind, NotATensor, RootCause, Status)
from backprop_ninja.packs.makemore.model import Instance

pytestmark = pytest.mark.fast

LECTURE = Instance("lecture")  # n=32, n_hidden=64, n_embd=10, block_size=3, vocab_size=27


def truth(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_an_error_in_one_row_shows_in_that_row_only():
    right = truth(32, 27)
    wrong = right.clone()
    wrong[7] -= 0.25
    m = error_map(wrong, right, LECTURE)
    assert len(m.cells) == 32 and all(len(row) == 27 for row in m.cells) and m.block == (1, 1)
    assert m.cells[7] == (-0.25,) * 27
    assert all(value == 0 for i, row in enumerate(m.cells) if i != 7 for value in row)
    assert m.worst[0] == 7 and m.worst_cell == m.worst


def test_an_error_constant_along_the_batch_shows_as_constant_columns():
    right = truth(32, 27)
    offsets = torch.arange(27, dtype=torch.float64) / 8 - 1.5  # each column its own error, one row the same
    m = error_map(right + offsets, right, LECTURE)
    columns = list(zip(*m.cells))
    assert all(column == (offset,) * 32 for column, offset in zip(columns, offsets.tolist()))
    assert m.largest == 1.75 and m.worst[1] == 26


@pytest.mark.parametrize("shape, rows, columns", [
    ((32, 27), "n (32)", "vocab_size (27)"),  # dlogits
    ((64, 27), "n_hidden (64)", "vocab_size (27)"),  # dW2
    ((32, 3, 10), "n (32)", "block_size×n_embd (30)"),  # demb: the first dimension down, the rest across
    ((30, 64), "n_embd * block_size (30)", "n_hidden (64)"),  # dW1
    ((1, 64), "dim 0 (1)", "n_hidden (64)"),  # dbngain
    ((27,), "", "vocab_size (27)"),  # db2: one row
    ((5, 7, 2), "dim 0 (5)", "dim 1×dim 2 (14)"),  # sizes the instance does not name
])
def test_the_axes_are_named_by_the_instances_sizes(shape, rows, columns):
    right = truth(*shape)
    m = error_map(right + 1, right, LECTURE)
    assert (m.shape, m.rows, m.columns) == (shape, rows, columns)


def test_the_worst_entry_its_index_its_cell_and_both_values():
    right = truth(32, 3, 10)
    wrong = right.clone()
    wrong[9, 2, 4] += 3.0
    wrong[0, 0, 0] -= 2.0
    m = error_map(wrong, right, LECTURE)
    assert m.worst == (9, 2, 4) and m.worst_cell == (9, 24)  # column 2 * n_embd + 4
    assert m.yours == wrong[9, 2, 4].item() and m.autograd == right[9, 2, 4].item()
    assert m.cells[9][24] == 3.0 and m.cells[0][0] == -2.0
    assert caption(m) == (f"worst at [9, 2, 4]: yours {m.yours:.3g} vs autograd's {m.autograd:.3g}, "
                          "off by 3")


def test_a_big_tensor_is_shrunk_in_blocks_that_keep_their_biggest_entry_with_its_sign():
    right = truth(100, 200)
    noise = torch.rand(100, 200, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    wrong = right + noise  # every entry a little above
    wrong[50, 101] = right[50, 101] - 7.0  # one far below, alone in its block
    m = error_map(wrong, right, LECTURE)
    assert m.block == (3, 5) and len(m.cells) == math.ceil(100 / 3) and len(m.cells[0]) == 200 // 5
    assert len(m.cells) <= MOST_CELLS and len(m.cells[0]) <= MOST_CELLS
    assert m.cells[50 // 3][101 // 5] == -7.0 and m.worst == (50, 101) and m.worst_cell == (16, 20)
    # Every other cell: the largest entry of its block, to 4 significant digits.
    difference = (wrong - right).tolist()
    for i, row in enumerate(m.cells):
        for j, value in enumerate(row):
            if (i, j) != (16, 20):
                block = [difference[r][c] for r in range(3 * i, min(3 * i + 3, 100)) for c in range(5 * j, 5 * j + 5)]
                assert value == float(f"{max(block):.4g}") > 0


def test_a_long_vector_is_one_row_in_blocks():
    right = truth(1000)
    wrong = right.clone()
    wrong[999] += 1e-3
    m = error_map(wrong, right, LECTURE)
    assert len(m.cells) == 1 and len(m.cells[0]) == MOST_CELLS and m.block == (1, 21)
    assert m.worst == (999,) and m.worst_cell == (0, 47) and m.cells[0][47] == 0.001


def test_values_are_kept_to_four_significant_digits():
    right = torch.zeros(2, 3, dtype=torch.float64)
    wrong = torch.tensor([[0.123456, -98765.4, 1.0000001e-7], [0.0, 2.5, -3.33333]], dtype=torch.float64)
    assert error_map(wrong, right, LECTURE).cells == ((0.1235, -98770.0, 1e-07), (0.0, 2.5, -3.333))


def test_a_shape_that_differs_by_leading_ones_is_the_same_map():
    right = truth(27)
    assert error_map((right + 1).reshape(1, 27), right, LECTURE).cells == ((1.0,) * 27,)
    assert error_map(right.reshape(1, 27) + 1, right.reshape(1, 27), LECTURE).rows == "dim 0 (1)"


@pytest.mark.parametrize("value, right", [
    (None, truth(32, 27)),
    (NotATensor("list"), truth(32, 27)),
    ([[0.0] * 27] * 32, truth(32, 27)),
    (truth(27, 32), truth(32, 27)),  # transposed: a wrong shape is said in words, not drawn
    (truth(32, 27)[:, :1], truth(32, 27)),  # broadcasts, but a wrong shape
    (truth(32, 27), truth(32, 27)),  # right
    (torch.tensor(2.0), torch.tensor(1.0)),  # 0-D: one number, nothing to draw
    (torch.full((32, 27), math.nan), truth(32, 27)),
    (truth(32, 27).bool(), truth(32, 27)),
])
def test_no_map_where_there_is_nothing_to_draw(value, right):
    assert error_map(value, right, LECTURE) is None


def test_a_float32_answer_against_float32_truth():
    right = truth(32, 27).float()
    wrong = right.clone()
    wrong[3, 4] *= -1
    m = error_map(wrong, right, LECTURE)
    assert m.worst == (3, 4) and m.cells[3][4] == float(f"{-2 * right[3, 4].item():.4g}")


def _gradient(name: str, m: ErrorMap | None, status: Status = Status.FAIL,
              diagnosis: Diagnosis | None = None) -> GradientResult:
    shape = m.shape if m else (32, 27)
    return GradientResult(name, status, shape, shape, False, False, 0.5, "", f"hint for {name}",
                          (Comparison(status, shape, shape, False, False, 0.5),), Status.FAIL, diagnosis,
                          error_map=m)


def _result(*gradients: GradientResult, root: str | None = None) -> CheckResult:
    cause = RootCause(root, Diagnosis(Kind.SIGN, "flipped"), "mind the sign", graded=True) if root else None
    return CheckResult("ex1", "ex1.py", gradients, (InstanceInfo("lecture", "n=32"),), root=cause)


def _map(seed: int = 0, shape: tuple[int, ...] = (32, 27)) -> ErrorMap:
    right = truth(*shape)
    wrong = right + torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    m = error_map(wrong, right, LECTURE)
    assert m is not None
    return m


def test_the_map_comes_back_the_same_through_json_and_older_records_have_none():
    gradient = _gradient("dlogits", _map())
    result = _result(gradient, _gradient("dh", None))
    again = CheckResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result and again.gradients[0].error_map == gradient.error_map
    assert isinstance(again.gradients[0].error_map.cells[0], tuple)
    written = json.loads(json.dumps(result.to_dict()))["gradients"][0]
    assert written["error_map"]["cells"][3] == list(gradient.error_map.cells[3])
    del written["error_map"]  # as a record written before the maps
    assert GradientResult.from_dict(written).error_map is None
    assert ErrorMap.from_dict(None) is None


def _svg(figure: str) -> ElementTree.Element:
    """The figure's SVG, parsed as XML: well formed, whatever text it holds."""
    return ElementTree.fromstring(figure[figure.index("<svg"):figure.rindex("</svg>") + len("</svg>")])


def test_the_picture_is_an_svg_with_its_labels_its_worst_cell_outlined_and_a_caption():
    right = truth(32, 27)
    wrong = right.clone()
    wrong[7, 13] += 0.5
    wrong[2] -= 0.1
    m = error_map(wrong, right, LECTURE)
    figure = render_picture("dlogits", m)
    svg = _svg(figure)
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert "dlogits: yours − autograd's" in texts and "n (32)" in texts and "vocab_size (27)" in texts
    assert "0.5" in texts and "-0.5" in texts and "0" in texts  # the scale, symmetric about 0
    assert f"<figcaption>dlogits: worst at [7, 13]: yours {m.yours:.3g} vs autograd&#x27;s" in figure
    shades = {path.get("fill"): path.get("d") for path in svg.iter("{http://www.w3.org/2000/svg}path")}
    assert shades == {colour(16): "M13 7h1v1h-1z", colour(-3): "M0 2h27v1h-27z"}  # one run of cells each
    outlined = [r for r in svg.iter("{http://www.w3.org/2000/svg}rect") if r.get("stroke") == "black"]
    assert [(r.get("x"), r.get("y")) for r in outlined] == [(str(34 + 13 * 16 - 1), str(40 + 7 * 16 - 1))]


def test_the_colours_run_from_blue_through_white_to_red():
    assert (colour(-16), colour(0), colour(16)) == ("#2166ac", "#ffffff", "#b2182b")
    def rgb(hex_colour: str) -> list[int]:
        return [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]

    for level in (8, -8):  # half way along: half way to the end, channel by channel
        halfway = [(white + end) / 2 for white, end in zip(rgb(colour(0)), rgb(colour(2 * level)))]
        assert rgb(colour(level)) == pytest.approx(halfway, abs=0.5)


def test_text_in_a_picture_is_shown_not_obeyed():
    m = _map()
    hostile = ErrorMap(m.shape, "<script>alert(1)</script>", "a & b \"c\"", m.cells, m.block, m.worst, m.yours,
                       m.autograd)
    figure = render_picture("d<b>x</b>", hostile)
    assert "<script>" not in figure and "<b>" not in figure
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in figure and "a &amp; b &quot;c&quot;" in figure
    texts = [t.text for t in _svg(figure).iter("{http://www.w3.org/2000/svg}text")]
    assert "<script>alert(1)</script>" in texts and "d<b>x</b>: yours − autograd's" in texts


def test_a_result_keeps_the_root_causes_map_and_the_first_others_up_to_six_drawn_root_first():
    names = [f"d{i}" for i in range(9)]
    gradients = [_gradient(name, _map(i)) for i, name in enumerate(names)]
    gradients[1] = _gradient("d1", None)  # a wrong shape: no map
    gradients[2] = _gradient("d2", None, status=Status.PASS)  # not wrong
    root = RootCause("d7", Diagnosis(Kind.LOCAL, "wrong"), "", True)
    kept = _pictured(tuple(gradients), root)
    assert [g.name for g in kept if g.error_map] == ["d0", "d3", "d4", "d5", "d6", "d7"]
    assert len([g for g in kept if g.error_map]) == MOST_PICTURES
    page = render_html(_result(*kept, root="d7"))
    drawn = [part.split(":")[0] for part in page.split("<figcaption>")[1:]]
    assert drawn == ["d7", "d0", "d3", "d4", "d5", "d6"]
    assert page.index("</table>") < page.index("<svg") < page.index("<pre")


def test_a_report_with_nothing_wrong_to_draw_has_no_picture():
    assert "<svg" not in render_html(_result(_gradient("dlogits", None, status=Status.PASS)))
    assert "<svg" not in render_html(_result(_gradient("dlogits", None)))


def test_the_terminal_report_is_the_same_with_or_without_maps():
    drawn = _result(_gradient("dlogits", _map()), _gradient("dh", _map(1)), root="dlogits")
    plain = _result(_gradient("dlogits", None), _gradient("dh", None), root="dlogits")
    assert render(drawn, "Checking ex1.py") == render(plain, "Checking ex1.py")


def test_the_page_is_a_whole_document_titled_by_its_heading():
    page = render_page(_result(_gradient("dlogits", _map())), "Checking <my> ex1.py")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<title>Checking &lt;my&gt; ex1.py</title>" in page and page.count("<svg xmlns") == 1
