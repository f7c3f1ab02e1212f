"""What a statement or a line of learner code writes, read as syntax: shared by reading a
submission (which cells hold an answer) and instrumenting it (where each gradient is finished)."""
from __future__ import annotations

import ast
import re


def base_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def written_names(node: ast.AST) -> set[str]:
    """Names a statement writes: assigned, augmented, indexed into, changed by an in-place method, or
    bound by a class or function definition. Autograd's bookkeeping (`p.grad = None`,
    `W.requires_grad_()`, `p.grad.zero_()`) leaves a tensor's value as it was: not a write."""
    names: set[str | None] = set()
    for sub in ast.walk(node):
        if isinstance(sub, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(sub.name)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            names.add(sub.id)
        elif isinstance(sub, (ast.Subscript, ast.Attribute)) and isinstance(sub.ctx, ast.Store):
            names.add(None if _bookkeeping(sub) else base_name(sub))
        elif (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute)
              and sub.func.attr.endswith("_") and not sub.func.attr.startswith("_")):
            names.add(None if _bookkeeping(sub.func) else base_name(sub.func.value))
    return {name for name in names if name is not None}


_BOOKKEEPING = {"grad", "requires_grad", "requires_grad_", "retain_grad"}


def _bookkeeping(node: ast.AST) -> bool:
    """Does this chain of attributes and subscripts go through autograd's bookkeeping?"""
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        if isinstance(node, ast.Attribute) and node.attr in _BOOKKEEPING:
            return True
        node = node.value
    return False


def written_on_line(line: str, names: tuple[str, ...]) -> str | None:
    """The name among `names` that a line of code assigns (`db1 = ...`, `dC[ix] += ...`), read from
    its text alone: the line need not parse."""
    match = re.match(r"\s*([A-Za-z_]\w*)\s*(\[.*\])?\s*[-+*/@]?=(?!=)", line)
    return match.group(1) if match and match.group(1) in names else None
