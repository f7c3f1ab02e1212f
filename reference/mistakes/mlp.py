"""Known-wrong answers to the mlp exercise, one mistake each: edits of reference/mlp.py, and the
diagnosis `ninja check-exercise mlp` holds the pack to.

MISTAKES: (name, the answer's text, the mistaken text, root cause, kind), one each.
"""

MISTAKES = (
    ("the mean forgotten", "dlogits /= n\n", "", "dlogits", "scale"),
    ("n hard-coded", "dlogits /= n", "dlogits /= 32", "dlogits", "hard-coded-size"),
    ("dW2 transposed", "dW2 = h.T @ dlogits", "dW2 = dlogits.T @ h", "dW2", "transpose"),
    ("db2 summed over the wrong axis", "db2 = dlogits.sum(0)", "db2 = dlogits.sum(1)", "db2", "wrong-axis"),
    ("tanh's derivative from its input", "dhpreact = (1.0 - h**2) * dh", "dhpreact = (1.0 - hpreact**2) * dh",
     "dhpreact", "local"),
    ("tanh's derivative negated", "dhpreact = (1.0 - h**2) * dh", "dhpreact = (h**2 - 1.0) * dh", "dhpreact", "sign"),
    ("dW1 transposed", "dW1 = emb.view(-1, block_size * n_embd).T @ dhpreact",
     "dW1 = (dhpreact.T @ emb.view(-1, block_size * n_embd)).T.T", "dW1", "transpose"),
    ("emb's shape not given back", "demb = (dhpreact @ W1.T).view(emb.shape)", "demb = dhpreact @ W1.T", "demb",
     "shape"),
    ("repeated rows of C assigned, not added", "dC.index_add_(0, X.view(-1), demb.view(-1, n_embd))",
     "dC[X.view(-1)] = demb.view(-1, n_embd)", "dC", "duplicate-index"),
)
