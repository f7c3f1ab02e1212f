"""The probes of a learner's `Value` class: each op alone, from given operands, gradients already
there and an upstream gradient; then whole expressions through `backward()`.

This file runs in two places. The checker imports it and builds every probe on float64 tensors with
autograd, for the truth. The worker runs its source after the learner's code, on their `Value`
(`probe_worker` at the end), and sends back only numbers. So it imports nothing of the grader's, and
its names start with `probe` or are upper case, out of the way of the learner's own.
"""
import traceback

import torch

PROBE_OPS = ("__add__", "__mul__", "__pow__", "tanh", "exp", "relu")
PROBE_NONLINEAR = ("tanh", "exp", "relu")
# The lecture's own numbers: its first expression (a, b, c, f) and its neuron (x1, x2, w1, w2, b).
PROBE_LECTURE_L = (2.0, -3.0, 10.0, -2.0)
PROBE_LECTURE_NEURON = (2.0, 0.0, -3.0, 1.0, 6.8813735870195432)
# The lecture's four examples and targets, for an MLP(3, [4, 4, 1]).
PROBE_XS = ((2.0, 3.0, -1.0), (3.0, -1.0, 0.5), (0.5, 1.0, 1.0), (1.0, 1.0, -1.0))
PROBE_YS = (1.0, -1.0, -1.0, 1.0)
PROBE_MLP_SIZES = (3, 4, 4, 1)
PROBE_MLP_WEIGHTS = sum((n_in + 1) * n_out for n_in, n_out in zip(PROBE_MLP_SIZES, PROBE_MLP_SIZES[1:]))


class ProbeDraw:
    """The instance's random numbers (uniform in [0, 1)), taken in order: both sides take the same."""

    def __init__(self, numbers):
        self.numbers, self.taken = [float(x) for x in numbers], 0

    def __call__(self, low=-2.0, high=2.0):
        x = self.numbers[self.taken]
        self.taken += 1
        return low + (high - low) * x


class ProbeOp:
    """One op alone: operands (one, used twice, for `a + a`), the exponent of a power, the gradients
    the operands already hold, and the output's gradient."""

    def __init__(self, op, operands, exponent, priors, upstream):
        self.op, self.operands, self.exponent = op, operands, exponent
        self.priors, self.upstream = priors, upstream

    def apply(self, leaves):
        a, b = leaves[0], leaves[-1]  # b is a itself where the operand is used twice
        if self.op == "__add__":
            return a + b
        if self.op == "__mul__":
            return a * b
        if self.op == "__pow__":
            return a ** self.exponent
        return getattr(a, self.op)()


def probe_ops(draw):
    """Every op alone, twice from two operands, once from one used twice; powers of several kinds;
    each nonlinearity on both sides of 0."""
    shapes = [("__add__", 2, None), ("__add__", 2, None), ("__add__", 1, None),
              ("__mul__", 2, None), ("__mul__", 2, None), ("__mul__", 1, None),
              ("__pow__", 1, 2), ("__pow__", 1, 3), ("__pow__", 1, -1), ("__pow__", 1, 0.5), ("__pow__", 1, -1.5)]
    shapes += [(op, 1, None) for op in PROBE_NONLINEAR for _ in range(2)]
    probes = []
    for op, arity, exponent in shapes:
        if isinstance(exponent, float) or exponent == -1:  # a power of a positive number
            operands = tuple(draw(0.5, 2.0) for _ in range(arity))
        elif op in PROBE_NONLINEAR:  # one input of each sign
            operands = (draw(0.1, 2.0) * (-1 if any(p.op == op for p in probes) else 1),)
        else:
            operands = tuple(draw() for _ in range(arity))
        probes.append(ProbeOp(op, operands, exponent, tuple(draw() for _ in range(arity)), draw()))
    return probes


def _neuron(x1, x2, w1, w2, b):
    return x1 * w1 + x2 * w2 + b


def _tanh_through_exp(const, n):
    e = (const(2.0) * n).exp()
    return (e - const(1.0)) / (e + const(1.0))


def _mlp_loss(const, activation, weights):
    """The summed squared error of an MLP(3, [4, 4, 1]) on the lecture's examples, its weights taken
    in order (each neuron's inputs' weights, then its bias), its hidden layers through `activation`;
    built with + and * alone, every number a `const`."""
    loss = None
    for x, y in zip(PROBE_XS, PROBE_YS):
        x = [const(xi) for xi in x]
        taken = iter(weights)
        for layer, (n_in, n_out) in enumerate(zip(PROBE_MLP_SIZES, PROBE_MLP_SIZES[1:])):
            outs = []
            for _ in range(n_out):
                w = [next(taken) for _ in range(n_in)]
                act = next(taken)
                for wi, xi in zip(w, x):
                    act = act + wi * xi
                outs.append(activation(act) if layer < len(PROBE_MLP_SIZES) - 2 else act)
            x = outs
        error = x[0] + const(-y)
        loss = error * error if loss is None else loss + error * error
    return loss


_ARITHMETIC = ("__add__", "__mul__")


def probe_expressions(draw):
    """(what, the ops it needs, build, inputs): whole expressions, run through backward(). `build`
    takes the maker of constants (the learner's Value; a tensor for the truth), then the inputs. Every
    expression's inputs are drawn, whatever the class defines, so that both sides draw the same."""
    random_neuron = tuple(draw() for _ in range(5))
    weights = tuple(draw(-1.0, 1.0) for _ in range(PROBE_MLP_WEIGHTS))
    through_exp = (*_ARITHMETIC, "exp", "__sub__", "__truediv__")
    return [
        ("reused operands: (a * b) * (a + b)", _ARITHMETIC, lambda k, a, b: (a * b) * (a + b), (draw(), draw())),
        ("the lecture's L = (a * b + c) * f", _ARITHMETIC, lambda k, a, b, c, f: (a * b + c) * f, PROBE_LECTURE_L),
        ("a + a", ("__add__",), lambda k, a: a + a, (draw(),)),
        ("a - b / a", ("__sub__", "__truediv__"), lambda k, a, b: a - b / a, (draw(0.5, 2.0), draw())),
        ("the lecture's neuron", (*_ARITHMETIC, "tanh"), lambda k, *v: _neuron(*v).tanh(), PROBE_LECTURE_NEURON),
        ("a neuron with tanh", (*_ARITHMETIC, "tanh"), lambda k, *v: _neuron(*v).tanh(), random_neuron),
        ("the lecture's neuron, tanh through exp", through_exp, lambda k, *v: _tanh_through_exp(k, _neuron(*v)),
         PROBE_LECTURE_NEURON),
        ("a neuron with relu", (*_ARITHMETIC, "relu"), lambda k, *v: _neuron(*v).relu(), random_neuron),
        ("MLP(3, [4, 4, 1]) with tanh", (*_ARITHMETIC, "tanh"), lambda k, *w: _mlp_loss(k, lambda n: n.tanh(), w),
         weights),
        ("MLP(3, [4, 4, 1]) with relu", (*_ARITHMETIC, "relu"), lambda k, *w: _mlp_loss(k, lambda n: n.relu(), w),
         weights),
        ("MLP(3, [4, 4, 1]) with tanh through exp", through_exp,
         lambda k, *w: _mlp_loss(k, lambda n: _tanh_through_exp(k, n), w), weights),
    ]


# -- in the worker, on the learner's Value -----------------------------------------------------------

def _probe_error(error, where):
    """Where the learner's code raised, as `file, line N`, from the innermost frame not of this file."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename != where]
    at = f" at {frames[-1].filename}, line {frames[-1].lineno}" if frames else ""
    text = str(error).strip().splitlines()
    return f"raised {type(error).__name__}{': ' + text[0][:300] if text else ''}{at}"


def probe_grad_name(Value):
    """The attribute a Value keeps its gradient in: `grad`, as the lecture's; else the one number of
    a fresh Value's whose name says grad (`_grad`, `gradient`)."""
    try:
        fresh = vars(Value(1.0))
    except Exception:  # a class whose constructor fails says so in every row, through `grad`
        return "grad"
    named = [name for name, x in fresh.items()
             if "grad" in name.lower() and isinstance(x, (int, float)) and not isinstance(x, bool)]
    return "grad" if "grad" in named or not named else named[0]


def probe_children(node, Value):
    """The Values a node was made from: its `_prev`, as the lecture's, or another attribute of its
    that holds only Values (`children`, `_children`)."""
    held = getattr(node, "_prev", None)
    if held is None:
        attributes = vars(node).values() if hasattr(node, "__dict__") else ()
        held = next((x for x in attributes if isinstance(x, (set, frozenset, tuple, list)) and x
                     and all(isinstance(c, Value) for c in x)), ())
    return list(held)


def probe_propagate(out, leaves, Value):
    """Pass out's gradient back to the leaves through the op's own graph: its `_backward`, or those of
    the ops it is built from (a tanh written through exp), each once, the output's first."""
    order, seen = [], set()
    stack = [(out, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen or any(node is leaf for leaf in leaves):
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in probe_children(node, Value))
    for node in reversed(order):
        node._backward()


class ProbeGraph:
    """The nodes of one expression's graph, as the class keeps it, for recording a backward() run."""

    def __init__(self, root, Value):
        self.nodes, self.consumers, stack = {}, {}, [root]
        while stack:
            node = stack.pop()
            if id(node) in self.nodes:
                continue
            self.nodes[id(node)] = node
            for child in probe_children(node, Value):
                self.consumers.setdefault(id(child), set()).add(id(node))
                stack.append(child)


def probe_backward(root, Value, grad):
    """Run root.backward(), with every inner node's `_backward` recorded where the class keeps them as
    the lecture's does; the record (see `_probe_structure`), or None where it does not."""
    try:
        graph = ProbeGraph(root, Value)
        inner = {key: node for key, node in graph.nodes.items()
                 if probe_children(node, Value) and callable(getattr(node, "_backward", None))}
    except Exception:  # not a graph of the lecture's shape: backward() is judged by its outcome alone
        root.backward()
        return None
    calls = []
    for key, node in inner.items():
        original = node._backward

        def recorded(key=key, node=node, original=original):
            calls.append((key, float(getattr(node, grad))))
            original()
        node._backward = recorded
    root.backward()
    return _probe_structure(calls, graph, inner, id(root))


def _probe_structure(calls, graph, inner, root):
    """[calls recorded, was the root's gradient 1 when its _backward ran, inner nodes run before a node
    they feed, inner nodes run more than once, inner nodes never run]."""
    position = {}
    for i, (key, _) in enumerate(calls):
        position.setdefault(key, i)
    seeded = next((g for key, g in calls if key == root), None) == 1.0
    early = sum(1 for key in inner if key in position and any(
        position.get(c, -1) > position[key] for c in graph.consumers.get(key, ())))
    return [len(calls), int(seeded), early, len(calls) - len(position), sum(1 for k in inner if k not in position)]


def probe_worker(namespace, where):
    """Every probe on the learner's `Value`, through the API it has: each row's gradients (or why
    there are none) written into `namespace` by the row's name; which expressions were asked of
    backward() (`backward_asked`), why any the class defines could not be built (`backward_unbuilt`),
    the attribute read as the gradient (`grad_name`), and the record of one backward() run
    (`backward_structure`)."""
    Value = namespace.get("Value")
    rows = {op: [] for op in PROBE_OPS}
    rows["backward"] = []
    if not isinstance(Value, type):
        namespace.update({row: "missing: your code defines no class Value" for row in rows})
        return
    grad = probe_grad_name(Value)
    draw = ProbeDraw(namespace["probe_numbers"])
    defined = {op for op in (*PROBE_OPS, "__sub__", "__truediv__", "backward") if callable(getattr(Value, op, None))}
    for probe in probe_ops(draw):
        if probe.op not in defined or isinstance(rows[probe.op], str):
            continue
        try:
            leaves = [Value(x) for x in probe.operands]
            out = probe.apply(leaves)
            if not isinstance(out, Value):
                raise TypeError(f"{probe.op} returns {type(out).__name__}, not a Value (is `return out` missing?)")
            for leaf, prior in zip(leaves, probe.priors):
                setattr(leaf, grad, prior)
            setattr(out, grad, probe.upstream)
            probe_propagate(out, leaves, Value)
            rows[probe.op] += [float(getattr(leaf, grad)) for leaf in leaves]
        except (Exception, SystemExit) as error:  # the learner's class, failing: its row says how
            rows[probe.op] = _probe_error(error, where)
    working = {op for op in defined if not isinstance(rows.get(op), str)}
    if defined & set(PROBE_OPS) - working:  # - and / may be built from any op (a / b as a * b**-1)
        working -= {"__sub__", "__truediv__"}
    structure, asked, unbuilt = None, [], []
    for what, needs, build, inputs in probe_expressions(draw):
        # Asked only of ops that work alone: a broken op's error is that op's, not backward()'s.
        if "backward" not in defined or not set(needs) <= working or isinstance(rows["backward"], str):
            asked.append(False)
            continue
        try:
            leaves = [Value(x) for x in inputs]
            out = build(Value, *leaves)
        except (Exception, SystemExit) as error:  # building it is the ops' part, not backward()'s
            unbuilt.append(f"{what}: {_probe_error(error, where)}")
            asked.append(False)
            continue
        asked.append(True)
        try:
            if what.startswith("MLP") and structure is None:
                structure = probe_backward(out, Value, grad)
            else:
                out.backward()
            rows["backward"] += [float(getattr(leaf, grad)) for leaf in leaves]
        except (Exception, SystemExit) as error:
            rows["backward"] = f"{_probe_error(error, where)} (in {what})"
    for row, grads in rows.items():
        if row not in defined:
            grads = "not defined"
        namespace[row] = torch.tensor(grads, dtype=torch.float64) if isinstance(grads, list) else grads
    namespace["backward_asked"] = torch.tensor(asked, dtype=torch.bool)
    namespace["backward_unbuilt"] = "; ".join(unbuilt)[:2000]
    namespace["grad_name"] = grad
    namespace["backward_structure"] = torch.tensor(structure) if structure else "not recorded"
