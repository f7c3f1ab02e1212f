"""micrograd: the backward pass of every op of a Value class.

The micrograd lecture builds Value, a scalar that remembers how it was made, and
backpropagates through any expression of Values. Write what it does by hand: each op's
_backward, which adds the op's part of out.grad to the gradients of its inputs, and
backward(), which runs them all, in order, from the output. The check builds expressions
with your Value (each op alone, reused operands, the lecture's neuron and an MLP(3, [4,
4, 1])) and the same ones with PyTorch's autograd, in float64.

Your file (or the notebook cell that defines Value) is run on its own: its class Value,
the functions and classes it uses, and the imports they need; nothing else of it. Each
op keeps its forward part as given. The check calls each op's _backward alone, on Values
that already hold a gradient (an op built from other ops, through theirs), then
backward() on whole expressions made of the ops that work, numbers in them made Values;
an op or backward() you leave out is 'not defined', not wrong.

Write each op's _backward where it says TODO, and backward(). Keep the class named
Value; an op you delete is 'not defined', not wrong. Check your work with:  ninja check
micrograd micrograd.py
"""

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

