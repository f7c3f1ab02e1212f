"""Known-wrong answers to the micrograd exercise, one mistake each: edits of reference/micrograd.py, and
the diagnosis `ninja check-exercise micrograd` holds the pack to.

MISTAKES: (name, the answer's text, the mistaken text, root cause, kind), one each.
"""

_ADD = "            self.grad += 1.0 * out.grad\n            other.grad += 1.0 * out.grad\n"
_MUL = "            self.grad += other.data * out.grad\n            other.grad += self.data * out.grad\n"
_ORDER = "        for v in reversed(order):\n"
_TOPOLOGICAL = '''    def backward(self):
        order, visited = [], set()

        def visit(v):
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    visit(child)
                order.append(v)
        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            v._backward()
'''
_RECURSIVE = '''    def backward(self):
        self.grad = 1.0
        stack = [self]
        while stack:
            v = stack.pop()
            v._backward()
            stack.extend(v._prev)
'''
MISTAKES = (
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
    ("backward with no topological order", _TOPOLOGICAL, _RECURSIVE, "backward", "order"),
)
