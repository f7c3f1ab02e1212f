import pytest
import torch

from backprop_ninja import cmp

pytestmark = pytest.mark.fast  # pure pieces: the fast tier


def _tensor_with_grad(shape, grad):
    t = torch.zeros(shape, requires_grad=True)
    t.grad = grad
    return t


def test_prints_the_lectures_line(capsys):
    grad = torch.tensor([[1.0, 2.0]])
    cmp("logits", grad.clone(), _tensor_with_grad((1, 2), grad))
    assert capsys.readouterr().out.strip() == (
        "logits          | exact: True  | approximate: True  | maxdiff: 0.0")


def test_notes_a_shape_that_passes_only_by_broadcasting(capsys):
    grad = torch.full((3, 1), 1e-12)
    cmp("db1", torch.tensor(0.0), _tensor_with_grad((3, 1), grad))
    out = capsys.readouterr().out
    assert "approximate: True" in out and "passes here only by broadcasting" in out


def test_leading_ones_are_fine(capsys):
    grad = torch.ones(1, 4)
    cmp("dbnmeani", torch.ones(4), _tensor_with_grad((1, 4), grad))
    assert "fine: only leading 1s differ" in capsys.readouterr().out


def test_without_grad_says_what_to_do(capsys):
    cmp("h", torch.ones(2), torch.ones(2))
    assert "retain_grad" in capsys.readouterr().out
