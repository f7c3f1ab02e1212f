"""The normal form of an answer's code, which a class report compares across learners: each top-level
statement as a short hash of its text once comments, spacing and the learner's own names are gone.

Parsing with `ast` drops comments and spacing. A name of the learner's own (anything the exercise
neither gives nor grades, nor torch, F or a builtin) becomes a placeholder made from the normalised
text of what binds it: `scale = 1 / n` and `s = 1/n  # Bessel?` bind the same placeholder, wherever
in the code they stand, so that the lines using them hash alike too. A loop's variables are named by
what they loop over, a function's parameters by their place. The hashes make a set, in no order:
independent lines written in another order give the same set.
"""
from __future__ import annotations

import ast
import builtins
import hashlib
from collections.abc import Collection, Iterator

from .cells import Snippet

# Hex digits of a statement's hash: short, and still far from colliding among a class's statements.
HASH_DIGITS = 12
_PLACEHOLDER_DIGITS = 8
_BUILTINS = frozenset(dir(builtins))


def normal_form(snippets: tuple[Snippet, ...], given: Collection[str]) -> tuple[str, ...]:
    """The hashes of the snippets' top-level statements, normalised, sorted and each once; `given`
    are the names that are not the learner's own (the exercise's gradients, what its namespace
    provides), which stay as they are."""
    return tuple(sorted({_digest(text, HASH_DIGITS) for text in normal_texts(snippets, given)}))


def normal_texts(snippets: tuple[Snippet, ...], given: Collection[str]) -> Iterator[str]:
    """Each top-level statement of the snippets as its normalised text, in order: what `normal_form`
    hashes. A snippet that does not parse adds nothing."""
    normaliser = _Normaliser(frozenset(given) | _BUILTINS)
    for snippet in snippets:
        try:
            tree = ast.parse(snippet.source)
        except (SyntaxError, ValueError):  # ValueError: a null byte in the source
            continue
        yield from normaliser.units(tree.body)


def _digest(text: str, digits: int) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=digits // 2).hexdigest()


class _Normaliser(ast.NodeVisitor):
    """Rewrites a tree of its own in place, statement by statement in the order they run, keeping the
    placeholder of each of the learner's names as of the statement being read."""

    def __init__(self, given: frozenset[str]):
        self.given = given
        self.placeholders: dict[str, str] = {}

    def units(self, body: list[ast.stmt]) -> Iterator[str]:
        """The normalised text of each statement of `body` that does any work. A `with` block's
        statements are each one of their own, as its header only sets how they run (`torch.no_grad()`);
        a class's members too, since their order in it does not matter."""
        for node in body:
            if isinstance(node, ast.With):
                self._with_items(node)
                yield from self.units(node.body)
            elif isinstance(node, ast.ClassDef):
                yield from self._class_members(node)
            elif not _no_work(node):
                try:
                    self._statement(node)
                    text = ast.unparse(_Canonical().visit(node))
                except RecursionError:  # nested deeper than Python reads back: nothing to compare it by
                    continue
                yield text

    def _class_members(self, node: ast.ClassDef) -> Iterator[str]:
        name = self._class_name(node)
        for member in node.body:
            if not _no_work(member):
                try:
                    self._member(member)
                    text = ast.unparse(_Canonical().visit(member))
                except RecursionError:
                    continue
                yield f"class {name}: {text}"

    def _class_name(self, node: ast.ClassDef) -> str:
        for expression in (*node.decorator_list, *node.bases, *(k.value for k in node.keywords)):
            self.visit(expression)
        node.name = self._bind_name(node.name, "class " + ", ".join(ast.unparse(b) for b in node.bases))
        return node.name

    def _member(self, member: ast.stmt) -> None:
        """A member of a class is an attribute (`Value.__add__`, `self.grad`): its own name is kept."""
        if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self._function(member, rename=False)
        elif isinstance(member, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for part in ast.iter_child_nodes(member):
                if not (isinstance(part, ast.Name) and isinstance(part.ctx, ast.Store)):
                    self.visit(part)
        else:
            self._statement(member)

    def _statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign):
            self.visit(node.value)
            node.value = _Canonical().visit(node.value)  # its names renamed: a placeholder is of the one form
            defined = ast.unparse(node.value)
            for i, target in enumerate(node.targets):
                self._bind(target, f"{defined} #{i}")
        elif isinstance(node, ast.AnnAssign):
            self.visit(node.annotation)
            if node.value is not None:
                self.visit(node.value)
            self._bind(node.target, ast.unparse(node.value) if node.value else ast.unparse(node.annotation))
        elif isinstance(node, ast.AugAssign):
            self.visit(node.value)
            node.value = _Canonical().visit(node.value)
            if isinstance(node.target, ast.Name) and node.target.id not in self.given:
                # `t += x` reads t as it was, and binds t anew to what it has become
                name = node.target.id
                node.target.id = before = self.placeholders.get(name, name)
                self._bind_name(name, f"{before} {type(node.op).__name__}= {ast.unparse(node.value)}")
            else:
                self.visit(node.target)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self.visit(node.iter)
            self._bind(node.target, "for " + ast.unparse(node.iter))
            self._body(node.body, node.orelse)
        elif isinstance(node, ast.While):
            self.visit(node.test)
            self._body(node.body, node.orelse)
        elif isinstance(node, ast.If):
            self.visit(node.test)
            self._body(node.body, node.orelse)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            self._with_items(node)
            self._body(node.body)
        elif isinstance(node, ast.Try):
            self._body(node.body)
            for handler in node.handlers:
                if handler.type is not None:
                    self.visit(handler.type)
                if handler.name:
                    handler.name = self._bind_name(handler.name, "except " + ast.unparse(handler.type or ast.Name("")))
                self._body(handler.body)
            self._body(node.orelse, node.finalbody)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self._function(node, rename=True)
        elif isinstance(node, ast.ClassDef):
            self._class_name(node)
            for member in node.body:
                self._member(member)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            self._imports(node)
        else:  # return, del, assert, raise, an expression...: names read, or bound in some way of their own
            self.visit(node)

    def _body(self, *bodies: list[ast.stmt]) -> None:
        for body in bodies:
            for node in body:
                self._statement(node)

    def _with_items(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self._bind(item.optional_vars, "with " + ast.unparse(item.context_expr))

    def _imports(self, node: ast.Import | ast.ImportFrom) -> None:
        """An imported module or name is called by where it comes from (`import numpy as np`: numpy)."""
        prefix = "." * getattr(node, "level", 0) + (f"{node.module}." if isinstance(node, ast.ImportFrom)
                                                       and node.module else "")
        for alias in node.names:
            bound = alias.asname or alias.name.split(".")[0]
            if alias.name != "*" and bound not in self.given:
                self.placeholders[bound] = prefix + (alias.name if alias.asname else bound)
            alias.asname = None

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, rename: bool) -> None:
        """Its defaults and decorators are read where it is defined; its parameters are named by their
        place, and its body read with them, its own name within it standing for itself."""
        for expression in (*node.decorator_list, *node.args.defaults,
                           *(d for d in node.args.kw_defaults if d is not None)):
            self.visit(expression)
        outer = dict(self.placeholders)
        name, rename = node.name, rename and node.name not in self.given
        if rename:
            self.placeholders[name] = node.name = "f_self"
        self._parameters(node.args)
        if node.returns is not None:
            self.visit(node.returns)
        self._body(node.body)
        self.placeholders = outer
        if rename:
            node.name = self._bind_name(name, ast.unparse(node))

    def _parameters(self, arguments: ast.arguments) -> None:
        every = [*arguments.posonlyargs, *arguments.args, *filter(None, [arguments.vararg]),
                 *arguments.kwonlyargs, *filter(None, [arguments.kwarg])]
        for place, argument in enumerate(every):
            if argument.annotation is not None:
                self.visit(argument.annotation)
            if argument.arg not in self.given:
                self.placeholders[argument.arg] = argument.arg = f"p{place}"

    def _bind(self, target: ast.expr, defined: str) -> None:
        """The names `target` binds, each to a placeholder made from `defined` (the text that binds
        them) and its place in the target; a subscript or an attribute only reads names."""
        if isinstance(target, ast.Name):
            target.id = self._bind_name(target.id, defined)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for place, element in enumerate(target.elts):
                self._bind(element, f"{defined} [{place}]")
        elif isinstance(target, ast.Starred):
            self._bind(target.value, f"{defined} *")
        else:
            self.visit(target)

    def _bind_name(self, name: str, defined: str) -> str:
        if name in self.given:
            return name
        self.placeholders[name] = placeholder = "v_" + _digest(defined, _PLACEHOLDER_DIGITS)
        return placeholder

    # Expressions: names read are replaced; a lambda's or a comprehension's own names are their own.

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Store):  # bound by a statement of a kind bound nowhere else (`match`, say)
            node.id = self._bind_name(node.id, "bound")
        else:
            node.id = self.placeholders.get(node.id, node.id)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self._bind(node.target, ast.unparse(node.value))

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for default in (*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)):
            self.visit(default)
        outer = dict(self.placeholders)
        self._parameters(node.args)
        self.visit(node.body)
        self.placeholders = outer

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> None:
        outer = dict(self.placeholders)
        for generator in node.generators:
            self.visit(generator.iter)
            self._bind(generator.target, "for " + ast.unparse(generator.iter))
            for condition in generator.ifs:
                self.visit(condition)
        for part in ((node.key, node.value) if isinstance(node, ast.DictComp) else (node.elt,)):
            self.visit(part)
        self.placeholders = outer

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension


class _Canonical(ast.NodeTransformer):
    """One way of writing what is written many ways alike: the operands of a chain of + or of * in one
    order (`bngain * dhpreact` is `dhpreact * bngain`), and a whole number as an int (1.0 is 1). Those
    variants are how learners differ by chance, not by source."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        self.generic_visit(node)
        if not isinstance(node.op, (ast.Add, ast.Mult)):
            return node
        operands = sorted(_chain(node, type(node.op)), key=ast.unparse)
        chained = operands[0]
        for operand in operands[1:]:
            chained = ast.BinOp(chained, type(node.op)(), operand)
        return chained

    def visit_Constant(self, node: ast.Constant) -> ast.Constant:
        if isinstance(node.value, float) and node.value.is_integer():
            return ast.Constant(int(node.value))
        return node


def _chain(node: ast.expr, op: type[ast.operator]) -> list[ast.expr]:
    """The operands of a chain of one operator: `a * b * c` is [a, b, c]."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, op):
        return _chain(node.left, op) + _chain(node.right, op)
    return [node]


def _no_work(node: ast.stmt) -> bool:
    """A statement that does nothing an answer is made of: `pass`, a docstring or other bare constant,
    a stub's `dX = None`."""
    if isinstance(node, ast.Pass):
        return True
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Constant)
    return isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value is None
