"""The micrograd pack: its exercise, the reference `Value`, and known-wrong ones with the diagnosis
each must get."""
from __future__ import annotations

from ...engine.registry import Mistake, Pack
from .exercise import MICROGRAD
from .value import REFERENCE

_ADD = "            self.grad += 1.0 * out.grad\n            other.grad += 1.0 * out.grad\n"
_MUL = "            self.grad += other.data * out.grad\n            other.grad += self.data * out.grad\n"
_ORDER = "        for v in reversed(order):\n"
_RECURSIVE = '''    def backward(self):
        self.grad = 1.0
        stack = [self]
        while stack:
            v = stack.pop()
            v._backward()
            stack.extend(v._prev)
'''
# One mistake each, as (name, the reference's text, the mistaken text, root cause, kind).
_MISTAKES = (
    ("exp with = (the lecture's own slip)", "self.grad += out.data * out.grad", "self.grad = out.data * out.grad",
     "exp", "missing-branch"),
    ("add with =", _ADD, _ADD.replace("+=", "="), "__add__", "missing-branch"),
    ("add forgets other", _ADD, _ADD.splitlines(keepends=True)[0], "__add__", "local"),
    ("mul without out.grad", _MUL, _MUL.replace(" * out.grad", ""), "__mul__", "local"),
    ("mul's gradients swapped", _MUL, _MUL.replace("other.data *", "SELF").replace("self.data *", "other.data *")
     .replace("SELF", "self.data *"), "__mul__", "swapped"),
    ("pow without the - 1", "other * self.data**(other - 1) * out.grad", "other * self.data**other * out.grad",
     "__pow__", "local"),
    ("tanh from its input", "self.grad += (1 - t**2) * out.grad", "self.grad += (1 - self.data**2) * out.grad",
     "tanh", "local"),
    ("relu without out.grad", "self.grad += (out.data > 0) * out.grad", "self.grad += float(out.data > 0)",
     "relu", "local"),
    ("backward not reversed", _ORDER, _ORDER.replace("reversed(order)", "order"), "backward", "order"),
    ("backward not seeded", "        self.grad = 1.0\n        for v in", "        for v in", "backward", "seed"),
    ("backward with no topological order", REFERENCE[REFERENCE.index("    def backward(self):"):], _RECURSIVE,
     "backward", "order"),
)

PACK = Pack("micrograd", "The micrograd lecture: a Value class that backpropagates", (MICROGRAD,),
            found_by_writes=True, references={MICROGRAD.key: REFERENCE},
            mistakes=tuple(Mistake(MICROGRAD.key, name, REFERENCE.replace(old, new), root, kind)
                           for name, old, new, root, kind in _MISTAKES))
