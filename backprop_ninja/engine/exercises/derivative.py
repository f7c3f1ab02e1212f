"""The local derivative of one statement of a forward pass, written as code: the part of a tensor's
gradient that flows back through one of its uses, as a learner would write it (`torch.ones_like(counts)
* dcounts_sum` for `counts_sum = counts.sum(1, keepdim=True)`).

It knows the ops a lecture's forward pass is written with (+, -, *, /, a constant power, @, sum,
mean, max, exp, log, tanh, a transpose, a view) and returns None for any other: what it writes is
only ever a candidate, which the check runs and keeps if it is right. Shapes come from the forward
pass's own tensors on one instance, so that a part flowing back through a broadcast is summed back
to the tensor's shape.
"""
from __future__ import annotations

import ast
from collections.abc import Mapping

import torch

from ..reading.syntax import base_name

# What reads as one operand in code: the rest is put in parentheses before it is multiplied or transposed.
ATOMS = (ast.Name, ast.Constant, ast.Attribute, ast.Call, ast.Subscript)


class _Unknown(Exception):
    """An op this module does not differentiate."""


def contribution(expression: ast.expr, tensor: str, upstream: str, scope: Mapping[str, object],
                 result: str | None = None) -> str | None:
    """Code for the part of `tensor`'s gradient that flows back through `expression` (a forward
    statement's right-hand side, whose value is named `result`), where `upstream` is the code of the
    gradient arriving at that value; `scope` holds the forward pass's tensors (their shapes)."""
    try:
        parts = _Differentiator(tensor, scope, expression, result).back(expression, upstream)
    except (_Unknown, SyntaxError, NameError, TypeError, AttributeError, RuntimeError, IndexError):
        return None
    return " + ".join(parts) if parts else None


ONE = "1"  # the gradient arriving at the loss: multiplying by it writes nothing


def _times(a: str, b: str) -> str:
    """a * b, as code, leaving out a factor of one."""
    return a if b == ONE else b if a == ONE else f"{a} * {b}"


def _text(node: ast.expr) -> str:
    return ast.unparse(node)


def _operand(code: str, node: ast.expr | None = None) -> str:
    """Code fit to be an operand of * or @: in parentheses unless it is one atom."""
    if code == ONE or (node is not None and isinstance(node, ATOMS)):
        return code
    return code if code.isidentifier() else f"({code})"


class _Differentiator:
    def __init__(self, tensor: str, scope: Mapping[str, object], root: ast.expr, result: str | None):
        self.tensor, self.scope, self.root, self.result = tensor, scope, root, result

    def shape(self, node: ast.expr) -> tuple[int, ...]:
        value = eval(compile(ast.Expression(node), "<forward step>", "eval"), {"torch": torch, **self.scope})
        return tuple(value.shape) if isinstance(value, torch.Tensor) else ()

    def value_code(self, node: ast.expr) -> str:
        """The code of a node's value: the statement's own name for the whole expression."""
        return self.result if node is self.root and self.result else _operand(_text(node), node)

    def back(self, node: ast.expr, upstream: str, arriving: tuple[int, ...] | None = None) -> list[str]:
        """The parts of the tensor's gradient through `node`, given the code of the gradient arriving at
        it, whose shape is `arriving` (by default the node's own: broadcasting may make it larger)."""
        if not self.reads_tensor(node):
            return []
        if isinstance(node, ast.Name):
            shape = self.shape(node)
            return [self.summed(upstream, shape if arriving is None else arriving, shape)]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return self.back(node.operand, "-1" if upstream == ONE else f"-{_operand(upstream)}", self.shape(node))
        if isinstance(node, ast.BinOp):
            return self.binary(node, upstream)
        if isinstance(node, ast.Attribute) and node.attr == "T":
            return self.back(node.value, upstream if upstream == ONE else f"{_operand(upstream)}.T")
        if isinstance(node, ast.Attribute) and node.attr == "values" and isinstance(node.value, ast.Call):
            return self.maximum(node.value, upstream)
        if isinstance(node, ast.Call):
            return self.call(node, upstream)
        raise _Unknown(ast.dump(node))

    def binary(self, node: ast.BinOp, upstream: str) -> list[str]:
        left, right = node.left, node.right
        out = self.shape(node)  # what an elementwise op's gradient arrives as, before broadcasting undone
        up = _operand(upstream)
        lcode, rcode = _operand(_text(left), left), _operand(_text(right), right)
        if isinstance(node.op, ast.Add):
            return self.back(left, upstream, out) + self.back(right, upstream, out)
        if isinstance(node.op, ast.Sub):
            return self.back(left, upstream, out) + self.back(right, f"-{up}", out)
        if isinstance(node.op, ast.Mult):
            return self.back(left, _times(rcode, up), out) + self.back(right, _times(lcode, up), out)
        if isinstance(node.op, ast.Div):
            return self.back(left, f"{up} / {rcode}", out) + self.back(right, f"-{lcode} / {rcode}**2 * {up}", out)
        if isinstance(node.op, ast.Pow) and not self.reads_tensor(right):
            exponent = right.value if isinstance(right, ast.Constant) else None
            if exponent == 2:
                local = f"2 * {lcode}"
            elif isinstance(exponent, (int, float)):
                local = f"{exponent} * {lcode}**{_operand(repr(exponent - 1)) if exponent < 1 else exponent - 1}"
            else:
                local = f"{rcode} * {lcode}**({_text(right)} - 1)"
            return self.back(left, _times(local, up), out)
        if isinstance(node.op, ast.MatMult):
            return self.back(left, f"{up} @ {rcode}.T") + self.back(right, f"{lcode}.T @ {up}")
        raise _Unknown(ast.dump(node.op))

    def call(self, node: ast.Call, upstream: str) -> list[str]:
        up = _operand(upstream)
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("sum", "mean", "exp", "log", "tanh",
                                                                      "view", "reshape"):
            operand, op, args = node.func.value, node.func.attr, node.args
            if op in ("exp", "log", "tanh", "view", "reshape") and base_name(node.func.value) in ("torch", "F"):
                raise _Unknown("a torch function named as a method")
        elif isinstance(node.func, ast.Attribute) and base_name(node.func) == "torch" and node.args:
            operand, op, args = node.args[0], node.func.attr, node.args[1:]
        else:
            raise _Unknown(ast.dump(node.func))
        code = _operand(_text(operand), operand)
        if op in ("sum", "mean"):
            dim = _dim(node, args)
            keepdim = any(k.arg in ("keepdim", "keepdims") and _true(k.value) for k in node.keywords)
            spread = up if dim is None or keepdim else f"{up}.unsqueeze({dim})"
            count = "" if op == "sum" else f" / {code}.numel()" if dim is None else f" / {code}.shape[{dim}]"
            return self.back(operand, _times(f"torch.ones_like({_text(operand)})", spread) + count)
        if op == "exp":
            return self.back(operand, _times(self.value_code(node), up))
        if op == "log":
            return self.back(operand, f"{up} / {code}")
        if op == "tanh":
            return self.back(operand, _times(f"(1 - {self.value_code(node)}**2)", up))
        if op in ("view", "reshape"):
            return self.back(operand, f"{up}.view({code}.shape)")
        raise _Unknown(op)

    def maximum(self, call: ast.Call, upstream: str) -> list[str]:
        """`x.max(dim, keepdim=True).values`: the gradient goes to each row's largest entry alone."""
        if not (isinstance(call.func, ast.Attribute) and call.func.attr == "max"):
            raise _Unknown(ast.dump(call.func))
        operand = call.func.value
        dim = _dim(call, call.args)
        code = _operand(_text(operand), operand)
        shape = self.shape(operand)
        if dim is None or dim % len(shape) != len(shape) - 1:
            raise _Unknown("max over a dimension other than the last")
        return self.back(operand, _times(f"F.one_hot({code}.max({dim}).indices, num_classes={code}.shape[{dim}])",
                                         _operand(upstream)))

    def reads_tensor(self, node: ast.expr) -> bool:
        return any(isinstance(sub, ast.Name) and sub.id == self.tensor for sub in ast.walk(node))

    @staticmethod
    def summed(code: str, arriving: tuple[int, ...], shape: tuple[int, ...]) -> str:
        """`code`, of shape `arriving`, summed over what broadcasting spread it over, to `shape`."""
        extra = len(arriving) - len(shape)
        for _ in range(extra):
            code = f"{_operand(code)}.sum(0)"
        spread = [d for d, (a, s) in enumerate(zip(arriving[extra:], shape)) if s == 1 and a != 1]
        for d in spread:
            code = f"{_operand(code)}.sum({d}, keepdim=True)"
        return code


def _dim(call: ast.Call, args: list[ast.expr]) -> int | None:
    for keyword in call.keywords:
        if keyword.arg in ("dim", "axis"):
            return _int(keyword.value)
    return _int(args[0]) if args else None


def _int(node: ast.expr) -> int:
    value = ast.literal_eval(node)
    if not isinstance(value, int):
        raise _Unknown("a dimension that is not a number")
    return value


def _true(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is True
