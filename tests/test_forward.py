"""A forward pass read as Python, one named tensor per statement: what it computes and which tensor
feeds which; and each way a pack author can get it wrong, refused with what to write."""
import pytest
import torch

from backprop_ninja.engine.exercises.forward import ForwardPass, autograd_gradients
from backprop_ninja.engine.exercises.errors import PackError

pytestmark = pytest.mark.fast  # pure pieces: the fast tier

SOURCE = """\
h = torch.tanh(x @ W)  # a comment, and a blank line after

logits = (h @ W
          + h.sum(1, keepdim=True) * W.shape[1])
loss = F.cross_entropy(logits.to(W.dtype), y)
"""


def test_statements_over_several_lines_comments_and_blank_lines_are_read_as_python():
    forward = ForwardPass(SOURCE, ("W",))
    assert forward.tensors == ("h", "logits", "loss")
    # W feeds h and logits (its shape and dtype are metadata: no gradient flows through them)
    assert forward.consumers == {"W": ("h", "logits"), "h": ("logits",), "logits": ("loss",)}
    W = torch.randn(3, 3, dtype=torch.float64)
    data = {"x": torch.randn(4, 3, dtype=torch.float64), "y": torch.tensor([0, 1, 2, 0])}
    tensors = forward({"W": W}, data)
    assert torch.allclose(forward.step("logits", {**tensors, "W": W}, data), tensors["logits"])
    dW = autograd_gradients(forward, {"W": W}, data, ("dW",))["dW"]
    assert dW.shape == W.shape and dW.abs().sum() > 0


@pytest.mark.parametrize("source, says", [
    ("", "is empty"),
    ("\n   \n", "is empty"),
    ("h = (x @\n", "does not parse"),
    ("h = x @ W\nh = h.tanh()\nloss = h.sum()\n", "assigns h again"),
    ("W = W * 2\nloss = W.sum()\n", "assigns W again"),
    ("h = x @ W\nprint(h)\nloss = h.sum()\n", "`print(h)`, does not name one tensor"),
    ("h, g = x @ W, x\nloss = h.sum()\n", "does not name one tensor"),
    ("h = x @ W\nout = h.sum()\n", "has no loss"),
])
def test_a_forward_pass_that_is_not_one_tensor_per_statement_is_refused_with_what_to_write(source, says):
    with pytest.raises(PackError, match=says.replace("(", r"\(").replace(")", r"\)")):
        ForwardPass(source, ("W",))
