"""Autograd reached around the worker's barred engine, each way hostile testers found, as a real
submission checked by the real `ninja check ex2 FILE --json`: the reading of the code names what it saw,
and the answer fails as autograd-used, right numbers or not. Honest code that mentions autograd's
bookkeeping (`requires_grad`, `no_grad`, `.grad` read) still passes."""
import json

import pytest
from conftest import REFERENCE

RIGHT = (REFERENCE / "ex2.py").read_text()

# case -> (the submission, words the verdict must hold). Each but the last three computes the right dlogits
# and passed before the reading knew its way.
EVASIONS = {
    "a graph's nodes called by hand": (
        "with torch.enable_grad():\n"
        "    leaf = logits.detach().requires_grad_()\n"
        "    loss = F.cross_entropy(leaf, Yb)\n"
        "node, grad = loss.grad_fn, torch.ones_like(loss)\n"
        "while type(node).__name__ != 'AccumulateGrad':\n"
        "    out = node(grad)\n"
        "    grad = out[0] if isinstance(out, tuple) else out\n"
        "    node = node.next_functions[0][0]\n"
        "dlogits = grad\n", "line 4 reaches for autograd (loss.grad_fn)"),
    "TorchScript compiled from a string": (
        "unit = torch.jit.CompilationUnit('''\n"
        "def gradient(logits: torch.Tensor, Yb: torch.Tensor):\n"
        "    leaf = logits.detach().requires_grad_()\n"
        "    return torch.autograd.grad([torch.nn.functional.cross_entropy(leaf, Yb)], [leaf])[0]\n"
        "''')\n"
        "torch.set_grad_enabled(True)\n"
        "dlogits = unit.gradient(logits, Yb)\n", "line 1 reaches for autograd (torch.jit)"),
    "forward-mode AD through getattr": (
        "dual_numbers = getattr(torch, 'autograd').forward_ad\n"
        "dlogits = torch.zeros_like(logits)\n"
        "for j in range(logits.shape[1]):\n"
        "    tangent = torch.zeros_like(logits)\n"
        "    tangent[:, j] = 1\n"
        "    with dual_numbers.dual_level():\n"
        "        per_row = F.cross_entropy(dual_numbers.make_dual(logits, tangent), Yb, reduction='none') / n\n"
        "        dlogits[:, j] = dual_numbers.unpack_dual(per_row).tangent\n",
        "getattr(torch, 'autograd'), which reaches torch's attributes by name"),
    "torch.func.jacfwd through a name put together": (
        "transforms = getattr(torch, 'fu' + 'nc')\n"
        "dlogits = transforms.jacfwd(lambda l: F.cross_entropy(l, Yb))(logits)\n",
        "getattr(torch, 'fu' + 'nc')"),
    "the engine put back under its other name": (
        "variable = __import__('torch.autograd.variable', fromlist=['Variable'])\n"
        "variable.Variable._execution_engine = variable.ImperativeEngine()\n"
        "torch.set_grad_enabled(True)\n"
        "leaf = logits.detach().requires_grad_()\n"
        "found = getattr(torch, 'autograd').grad(F.cross_entropy(leaf, Yb), leaf)\n"
        "dlogits = found[0]\n", "__import__('torch.autograd.variable'"),
    "torch.func in a string run by exec": (
        "exec('dlogits = torch.func.jacfwd(lambda l: F.cross_entropy(l, Yb))(logits)')\n",
        "exec('dlogits = torch.func.j...ss_entropy(l, Yb))(logits)'), which runs code this check cannot read"),
    "torch.func in a string run by eval": (
        "dlogits = eval('torch.func.jacfwd')(lambda l: F.cross_entropy(l, Yb))(logits)\n",
        "eval('torch.func.jacfwd'), which runs code this check cannot read"),
    "ctypes": ("import ctypes\n" + RIGHT, "import ctypes, which runs code this check cannot read"),
    "every object alive": ("import gc\nalive = len(gc.get_objects())\n" + RIGHT,
                           "gc.get_objects, which reaches objects around this check"),
    "every class": ("classes = object.__subclasses__()\n" + RIGHT,
                    "object.__subclasses__, which reaches objects around this check"),
}

HONEST = ('print(logits.requires_grad, logits.grad, torch.__version__)\n'
          'with torch.no_grad():\n'
          '    ones = torch.tensor([1.0], requires_grad=False)\n'
          + "".join(f"    {line}\n" for line in RIGHT.split('"""', 2)[2].strip().splitlines())
          + 'dlogits = dlogits * ones\n')


@pytest.mark.parametrize("case", EVASIONS, ids=list(EVASIONS))
def test_autograd_reached_around_the_reading_is_named_and_fails(ninja, tmp_path, case):
    code, words = EVASIONS[case]
    (tmp_path / "ex2.py").write_text(code)
    status, out, _ = ninja("check", "ex2", tmp_path / "ex2.py", "--json")
    result = json.loads(out)
    assert status == 1 and not result["passed"]
    assert result["root_diagnosis"]["kind"] == "autograd-used"
    assert words in result["root_diagnosis"]["message"], result["root_diagnosis"]["message"]
    assert all(g["status"] == "fail" for g in result["gradients"])


def test_honest_code_that_mentions_autograd_s_bookkeeping_passes(ninja, tmp_path):
    (tmp_path / "ex2.py").write_text(HONEST)
    status, out, _ = ninja("check", "ex2", tmp_path / "ex2.py", "--json")
    result = json.loads(out)
    assert status == 0 and result["passed"] and result["root_cause"] is None, result["gradients"][0]["note"]
