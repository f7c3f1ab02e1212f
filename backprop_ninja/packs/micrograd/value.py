"""The stub of the micrograd exercise: the lecture's `Value` with every forward part given, and the body
of each op's `_backward` and of `backward()` a TODO for the learner. It is the worked `Value` of the
repository's reference/micrograd.py (not installed) with those bodies taken out; test_micrograd keeps
the two in step.
"""

STUB = '''\
import math


class Value:
    """A scalar, and how it was made: the Values it came from (_prev), the op (_op), and how to
    pass its gradient on to them (_backward)."""

    def __init__(self, data, _children=(), _op=''):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None  # a leaf passes nothing on
        self._prev = set(_children)
        self._op = _op

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), '+')

        def _backward():
            pass  # TODO: add this op's part of the gradient to each input's .grad, from out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), '*')

        def _backward():
            pass  # TODO: add this op's part of the gradient to each input's .grad, from out.grad
        out._backward = _backward
        return out

    def __pow__(self, other):
        assert isinstance(other, (int, float)), "only int and float powers"
        out = Value(self.data**other, (self,), f'**{other}')

        def _backward():
            pass  # TODO: add this op's part of the gradient to each input's .grad, from out.grad
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,), 'tanh')

        def _backward():
            pass  # TODO: add this op's part of the gradient to each input's .grad, from out.grad
        out._backward = _backward
        return out

    def exp(self):
        out = Value(math.exp(self.data), (self,), 'exp')

        def _backward():
            pass  # TODO: add this op's part of the gradient to each input's .grad, from out.grad
        out._backward = _backward
        return out

    def relu(self):
        out = Value(self.data if self.data > 0 else 0.0, (self,), 'ReLU')

        def _backward():
            pass  # TODO: add this op's part of the gradient to each input's .grad, from out.grad
        out._backward = _backward
        return out

    def __neg__(self):  # -self
        return self * -1

    def __radd__(self, other):  # other + self
        return self + other

    def __sub__(self, other):  # self - other
        return self + (-other)

    def __rsub__(self, other):  # other - self
        return other + (-self)

    def __rmul__(self, other):  # other * self
        return self * other

    def __truediv__(self, other):  # self / other
        return self * other**-1

    def __rtruediv__(self, other):  # other / self
        return other * self**-1

    def backward(self):
        pass  # TODO: set self.grad = 1.0, then run every node's _backward, each after those of all the nodes it feeds
'''
