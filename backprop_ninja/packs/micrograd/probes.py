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


def _tanh_through_exp(n):
    e = (2 * n).exp()
    return (e - 1) / (e + 1)


def _mlp_loss(activation, weights):
    """The summed squared error of an MLP(3, [4, 4, 1]) on the lecture's examples, its weights taken
    in order (each neuron's inputs' weights, then its bias), its hidden layers through `activation`."""
    loss = 0.0
    for x, y in zip(PROBE_XS, PROBE_YS):
        taken = iter(weights)
        for layer, (n_in, n_out) in enumerate(zip(PROBE_MLP_SIZES, PROBE_MLP_SIZES[1:])):
            outs = []
            for _ in range(n_out):
                w = [next(taken) for _ in range(n_in)]
                act = sum((wi * xi for wi, xi in zip(w, x)), next(taken))
                outs.append(activation(act) if layer < len(PROBE_MLP_SIZES) - 2 else act)
            x = outs
        loss = loss + (x[0] - y) ** 2
    return loss


def probe_expressions(draw):
    """(what, the ops it needs, function, inputs): whole expressions, run through backward(). Every
    expression's inputs are drawn, whatever the class defines, so that both sides draw the same."""
    random_neuron = tuple(draw() for _ in range(5))
    weights = tuple(draw(-1.0, 1.0) for _ in range(PROBE_MLP_WEIGHTS))
    return [
        ("reused operands: (a * b) * (a + b)", (), lambda a, b: (a * b) * (a + b), (draw(), draw())),
        ("the lecture's L = (a * b + c) * f", (), lambda a, b, c, f: (a * b + c) * f, PROBE_LECTURE_L),
        ("a + a", (), lambda a: a + a, (draw(),)),
        ("a - b / a", (), lambda a, b: a - b / a, (draw(0.5, 2.0), draw())),
        ("the lecture's neuron", ("tanh",), lambda *v: _neuron(*v).tanh(), PROBE_LECTURE_NEURON),
        ("a neuron with tanh", ("tanh",), lambda *v: _neuron(*v).tanh(), random_neuron),
        ("the lecture's neuron, tanh through exp", ("exp",), lambda *v: _tanh_through_exp(_neuron(*v)),
         PROBE_LECTURE_NEURON),
        ("a neuron with relu", ("relu",), lambda *v: _neuron(*v).relu(), random_neuron),
        ("MLP(3, [4, 4, 1]) with tanh", ("tanh",), lambda *w: _mlp_loss(lambda n: n.tanh(), w), weights),
        ("MLP(3, [4, 4, 1]) with relu", ("relu",), lambda *w: _mlp_loss(lambda n: n.relu(), w), weights),
        ("MLP(3, [4, 4, 1]) with tanh through exp", ("exp",), lambda *w: _mlp_loss(_tanh_through_exp, w), weights),
    ]


# -- in the worker, on the learner's Value -----------------------------------------------------------

def _probe_error(error, where):
    """Where the learner's code raised, as `file, line N`, from the innermost frame not of this file."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename != where]
    at = f" at {frames[-1].filename}, line {frames[-1].lineno}" if frames else ""
    text = str(error).strip().splitlines()
    return f"raised {type(error).__name__}{': ' + text[0][:300] if text else ''}{at}"


def _probe_grad(value):
    return float(value.grad)


def _probe_structure(root):
    """Run root.backward() with every inner node's _backward recorded: [calls recorded, was the
    root's gradient 1 when its _backward ran, inner nodes run before a node they feed, inner nodes run
    more than once, inner nodes never run]."""
    nodes, consumers, stack = {}, {}, [root]
    while stack:
        node = stack.pop()
        if id(node) in nodes:
            continue
        nodes[id(node)] = node
        for child in node._prev:
            consumers.setdefault(id(child), set()).add(id(node))
            stack.append(child)
    calls = []
    for key, node in nodes.items():
        if node._prev:
            original = node._backward

            def recorded(key=key, node=node, original=original):
                calls.append((key, float(node.grad)))
                original()
            node._backward = recorded
    root.backward()
    position = {}
    for i, (key, _) in enumerate(calls):
        position.setdefault(key, i)
    inner = [key for key, node in nodes.items() if node._prev]
    seeded = next((grad for key, grad in calls if key == id(root)), None) == 1.0
    early = sum(1 for key in inner if key in position and any(
        position.get(c, -1) > position[key] for c in consumers.get(key, ())))
    return [len(calls), int(seeded), early, len(calls) - len(position), sum(1 for k in inner if k not in position)]


def probe_worker(namespace, where):
    """Every probe on the learner's `Value`, each row's gradients (or why there are none) written
    into `namespace` by the row's name, and the recorded structure of one backward() as
    `backward_structure`."""
    Value = namespace.get("Value")
    rows = {op: [] for op in PROBE_OPS}
    rows["backward"] = []
    if not isinstance(Value, type):
        namespace.update({row: "missing: your code defines no class Value" for row in rows})
        return
    draw = ProbeDraw(namespace["probe_numbers"])
    defined = {op for op in PROBE_OPS if callable(getattr(Value, op, None))}
    for probe in probe_ops(draw):
        if probe.op not in defined or isinstance(rows[probe.op], str):
            continue
        try:
            leaves = [Value(x) for x in probe.operands]
            out = probe.apply(leaves)
            for leaf, prior in zip(leaves, probe.priors):
                leaf.grad = prior
            out.grad = probe.upstream
            out._backward()
            rows[probe.op] += [_probe_grad(leaf) for leaf in leaves]
        except (Exception, SystemExit) as error:  # the learner's class, failing: its row says how
            rows[probe.op] = _probe_error(error, where)
    structure = "missing: backward() was not run"
    for what, needs, function, inputs in probe_expressions(draw):
        if not set(needs) <= defined or isinstance(rows["backward"], str):
            continue
        try:
            leaves = [Value(x) for x in inputs]
            out = function(*leaves)
            if what.startswith("MLP") and isinstance(structure, str):
                structure = torch.tensor(_probe_structure(out))
            else:
                out.backward()
            rows["backward"] += [_probe_grad(leaf) for leaf in leaves]
        except (Exception, SystemExit) as error:
            rows["backward"] = f"{_probe_error(error, where)} (in {what})"
    for row, grads in rows.items():
        if row not in defined and row != "backward":
            grads = "not defined"
        namespace[row] = torch.tensor(grads, dtype=torch.float64) if isinstance(grads, list) else grads
    namespace["backward_structure"] = structure

