"""The picture of the error, end to end: `ninja check --html` writes a page whose pictures a real
headless browser draws in the map's colours, `--json` carries the maps, a page that cannot be written
is bad input, and the in-notebook check's HTML, run in a real kernel, shows where the answer is wrong."""
import json
import re
import subprocess

import numpy as np
from conftest import REFERENCE
from test_notebooks import answer_cell, execute, stub
from test_report import _browser

from backprop_ninja.check.picture import colour

EX1 = (REFERENCE / "ex1.py").read_text()


def one_line_changed(old: str, new: str) -> str:
    """The worked solution of exercise 1 with one line changed: a learner's mistake."""
    assert EX1.count(old) == 1, old
    return EX1.replace(old, new)


# dh's sign flipped: the root cause, and every gradient built from it after it wrong too.
DH_FLIPPED = one_line_changed("dh = dlogits @ W2.T", "dh = -(dlogits @ W2.T)")


def test_the_html_page_of_a_check_in_a_headless_browser(run_ninja, tmp_path):
    wrong, page = tmp_path / "ex1.py", tmp_path / "check.html"
    wrong.write_text(DH_FLIPPED)
    code, out, err = run_ninja("check", "ex1", wrong, "--html", page)
    assert code == 1 and "Traceback" not in err and f"Wrote the report to {page}." in err
    assert "dh (sign)" in out and "Fix dh first." in out and "<" not in out, "the terminal report as usual"
    written = page.read_text()
    assert written.startswith("<!DOCTYPE html>") and f"<title>Checking {wrong}</title>" in written
    captions = re.findall(r"<figcaption>(\w+): worst at \[", written)
    assert captions == ["dh", "dhpreact", "dbngain", "dbnbias", "dbnraw", "dbnvar_inv"], "the root cause first"
    assert ">n (32)</text>" in written and ">n_hidden (64)</text>" in written
    browser = _browser()
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=900,1400",
                    page.as_uri()], capture_output=True, timeout=120)
    from matplotlib.image import imread

    red, green, blue = (imread(shot)[:, :, :3] * 255).round().astype(int).transpose(2, 0, 1)
    seen = {f"#{rgb:06x}" for rgb in np.unique(red << 16 | green << 8 | blue).tolist()}
    # dh = -(right dh): above autograd where it is negative, below where positive, both in many shades.
    assert len(seen & {colour(level) for level in range(1, 17)}) >= 8, "red cells drawn"
    assert len(seen & {colour(-level) for level in range(1, 17)}) >= 8, "blue cells drawn"


def test_json_carries_the_maps_and_the_page_is_written_too(ninja, tmp_path):
    wrong, page = tmp_path / "ex1.py", tmp_path / "check.html"
    wrong.write_text(one_line_changed("dcounts_sum_inv = (counts * dprobs).sum(1, keepdim=True)",
                                      "dcounts_sum_inv = (counts * dprobs).sum(1, keepdim=True) * 2"))
    code, out, _ = ninja("check", "ex1", wrong, "--json", "--html", page)
    assert code == 1
    gradients = {g["name"]: g for g in json.loads(out)["gradients"]}
    m = gradients["dcounts_sum_inv"]["error_map"]
    assert (m["shape"], m["rows"], m["columns"], m["block"]) == ([32, 1], "n (32)", "dim 1 (1)", [1, 1])
    assert abs(m["yours"] - m["autograd"]) == gradients["dcounts_sum_inv"]["maxdiff"]
    assert gradients["dlogprobs"]["error_map"] is None, "right: nothing to draw"
    assert "<figcaption>dcounts_sum_inv: worst at [" in page.read_text()


def test_a_page_that_cannot_be_written_is_bad_input(ninja, tmp_path):
    wrong = tmp_path / "ex2.py"
    wrong.write_text("dlogits = F.softmax(logits, 1)\n")
    code, out, err = ninja("check", "ex2", wrong, "--html", tmp_path / "no such folder" / "check.html")
    assert code == 2 and out == "" and "Traceback" not in err
    assert f"Error: cannot write the HTML page {tmp_path}/no such folder/check.html: no folder" in err
    # Where only writing says so, after the check: its report, then the error.
    code, out, err = ninja("check", "ex2", wrong, "--html", tmp_path / ("x" * 300 + ".html"))
    assert code == 2 and "0/1 gradients pass" in out and "Traceback" not in err
    assert "Error: cannot write the HTML page" in err and "File name too long" in err


def test_the_notebooks_check_shows_where_the_answer_is_wrong(tmp_path):
    """ex2 without the label's -1: too high by 1/n at each row's label, and nowhere else."""
    notebook = stub("ex2")
    answer_cell(notebook, "ex2").source = (REFERENCE / "ex2.py").read_text().replace("dlogits[range(n), Yb] -= 1\n", "")
    shown = execute(notebook, tmp_path)
    page, text = shown["text/html"], shown["text/plain"]
    assert "<svg" not in text and "0/1 gradients pass" in " ".join(text.split())
    assert page.count("<svg xmlns") == 1 and "dlogits: yours − autograd&#x27;s" in page
    assert ">n (32)</text>" in page and ">vocab_size (27)</text>" in page
    assert re.search(r"<figcaption>dlogits: worst at \[\d+, \d+\]: yours [-\d.e]+ vs autograd&#x27;s [-\d.e]+, "
                     r"off by 0\.031[23]</figcaption>", page), "1/n, to 3 digits"
    cells = re.findall(r"<path fill='(#\w+)' d='([^']*)'/>", page)
    assert [fill for fill, _ in cells] == [colour(16)], "every wrong cell as red as the worst"
    rows = [int(row) for row in re.findall(r"M\d+ (\d+)h1v1h-1z", cells[0][1])]
    assert sorted(rows) == list(range(32)), "one wrong entry in each row, the label's"
