"""A forward pass written as a lecture writes it, one named tensor per line, and autograd's truth
about it: the gradient of the loss for each tensor, and, for a tensor used more than once, the part
flowing back through each use. Any problem's forward pass, given its leaves (the tensors gradients
are taken for, e.g. parameters) and its data (everything else its lines read: a batch, sizes)."""
from __future__ import annotations

import re
from collections.abc import Mapping
from types import CodeType
from typing import cast

import torch
import torch.nn.functional as F

Data = Mapping[str, object]
# A name a line reads a value from: not one whose metadata alone it reads (`W.dtype`), which no
# gradient flows through.
_USED = re.compile(r"\b[A-Za-z_]\w*\b(?!\s*\.\s*(?:dtype|shape|device|ndim)\b)")


class ForwardPass:
    """The same source is executed here and shown to learners in the stubs."""

    def __init__(self, source: str, leaves: tuple[str, ...]):
        self.source = source
        self.leaves = leaves
        self.tensors = tuple(line.split(" = ")[0] for line in source.splitlines())
        self._code = compile(source, "<forward pass>", "exec")
        # Which tensors each tensor or leaf feeds: a gradient sums over these uses.
        self.consumers: dict[str, tuple[str, ...]] = {}
        # Each tensor's own line, to recompute it alone from given inputs.
        self._lines: dict[str, CodeType] = {}
        for line in source.splitlines():
            name, expression = line.split("#")[0].split(" = ", 1)
            self._lines[name] = compile(expression.strip(), f"<{name}>", "eval")
            for used in dict.fromkeys(_USED.findall(expression)):
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
