"""A forward pass written as a lecture writes it, one named tensor per line, and autograd's truth
about it: the gradient of the loss for each tensor, and, for a tensor used more than once, the part
flowing back through each use. Any problem's forward pass, given its leaves (the tensors gradients
are taken for, e.g. parameters) and its data (everything else its lines read: a batch, sizes)."""
from __future__ import annotations

import ast
from collections.abc import Mapping
from types import CodeType
from typing import cast

import torch
import torch.nn.functional as F

from .errors import PackError

Data = Mapping[str, object]
# Attributes that read a tensor's metadata alone (`W.dtype`): no gradient flows through them.
_METADATA = frozenset({"dtype", "shape", "device", "ndim"})


class ForwardPass:
    """The same source is executed here and shown to learners in the stubs: one statement per named
    tensor, each name new, one of them `loss`. A source that is not so is a PackError that says
    what to write."""

    def __init__(self, source: str, leaves: tuple[str, ...]):
        self.source = source
        self.leaves = leaves
        statements = _statements(source, leaves)
        self.tensors = tuple(name for name, _ in statements)
        # Each tensor's expression as syntax: what a fix's missing `+=` line is derived from.
        self.expressions: dict[str, ast.expr] = dict(statements)
        self._code = compile(source, "<forward pass>", "exec")
        # Which tensors each tensor or leaf feeds: a gradient sums over these uses.
        self.consumers: dict[str, tuple[str, ...]] = {}
        # Each tensor's own expression, to recompute it alone from given inputs.
        self._lines: dict[str, CodeType] = {}
        for name, expression in statements:
            self._lines[name] = compile(ast.Expression(expression), f"<{name}>", "eval")
            for used in _read(expression):
                if used in self.tensors or used in leaves:
                    self.consumers[used] = (*self.consumers.get(used, ()), name)

    def __call__(self, leaves: Mapping[str, torch.Tensor], data: Data) -> dict[str, torch.Tensor]:
        """Run it; returns its named tensors in the order they are computed."""
        scope = {"torch": torch, "F": F, **data, **leaves}
        exec(self._code, scope)
        # Every line of the source assigns a tensor, so each name is one now.
        return {name: cast(torch.Tensor, scope[name]) for name in self.tensors}

    def step(self, name: str, inputs: Mapping[str, torch.Tensor], data: Data) -> torch.Tensor:
        """The one line that computes `name`, from the given tensors and leaves."""
        return eval(self._lines[name], {"torch": torch, "F": F, **data, **inputs})


def _statements(source: str, leaves: tuple[str, ...]) -> list[tuple[str, ast.expr]]:
    """(name, expression) of each statement of a forward pass, checked to be one."""
    try:
        module = ast.parse(source)
    except SyntaxError as e:
        raise PackError(f"the forward pass does not parse: {e.msg} at line {e.lineno}") from None
    if not module.body:
        raise PackError("the forward pass is empty: write one statement per tensor, `name = expression`, "
                        "the last one `loss = ...`")
    statements: list[tuple[str, ast.expr]] = []
    for node in module.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        if not isinstance(target, ast.Name):
            raise PackError(f"line {node.lineno} of the forward pass, `{ast.get_source_segment(source, node)}`, "
                            "does not name one tensor: write `name = expression`, one tensor per statement")
        if target.id in leaves or any(target.id == name for name, _ in statements):
            raise PackError(f"line {node.lineno} of the forward pass assigns {target.id} again: give each tensor a "
                            f"name of its own (`{target.id}2 = ...`), so that each gradient is one tensor's")
        statements.append((target.id, cast(ast.Assign, node).value))
    if all(name != "loss" for name, _ in statements):
        raise PackError("the forward pass has no loss: name the scalar every gradient is of `loss = ...`")
    return statements


def _read(expression: ast.expr) -> list[str]:
    """The names an expression reads values from, in the order written: not those whose metadata
    alone it reads (`W.dtype`)."""
    metadata_only = {id(node.value) for node in ast.walk(expression)
                     if isinstance(node, ast.Attribute) and node.attr in _METADATA}
    names = [node for node in ast.walk(expression) if isinstance(node, ast.Name) and id(node) not in metadata_only]
    return list(dict.fromkeys(node.id for node in sorted(names, key=lambda n: (n.lineno, n.col_offset))))


def autograd_gradients(forward: ForwardPass, leaves: Mapping[str, torch.Tensor], data: Data,
                       names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """PyTorch autograd's gradient of the loss for each tensor in `names` ("dlogits" -> logits.grad)."""
    copies = {k: p.detach().clone().requires_grad_() for k, p in leaves.items()}
    with torch.enable_grad():
        tensors = forward(copies, data)
        for t in tensors.values():
            if t.requires_grad:  # not a tensor made from data alone (a one-hot encoding, say)
                t.retain_grad()
        tensors["loss"].backward()
    everything = {**tensors, **copies}
    return {name: _grad(everything[name.removeprefix("d")]) for name in names}


def _grad(t: torch.Tensor) -> torch.Tensor:
    assert t.grad is not None  # a gradient asked for is of a tensor on the loss's graph
    return t.grad.detach()


def branch_gradients(forward: ForwardPass, leaves: Mapping[str, torch.Tensor], data: Data,
                     tensor: str) -> dict[str, torch.Tensor]:
    """For a tensor used more than once, the part of its gradient that flows back through each use
    directly: the use's own local derivative times the gradient arriving at it. (`probs = counts *
    counts_sum_inv` uses counts only once; its path through counts_sum_inv is counts_sum's part.)"""
    copies = {k: p.detach().clone().requires_grad_() for k, p in leaves.items()}
    with torch.enable_grad():
        tensors = forward(copies, data)
        consumers = forward.consumers.get(tensor, ())
        upstream = torch.autograd.grad(tensors["loss"], [tensors[c] for c in consumers])
    values = {k: t.detach() for k, t in {**tensors, **copies}.items()}
    parts = {}
    for consumer, grad in zip(consumers, upstream):
        own = values[tensor].clone().requires_grad_()
        with torch.enable_grad():
            out = forward.step(consumer, {**values, tensor: own}, data)
            # The vector-Jacobian product as the gradient of a scalar: passing `grad_outputs`
            # instead would make torch import sympy, a third of a second.
            parts[consumer] = torch.autograd.grad((out * grad).sum(), own)[0]
    return parts
