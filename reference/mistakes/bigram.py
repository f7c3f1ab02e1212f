"""Known-wrong answers to the bigram exercise, one mistake each: edits of reference/bigram.py, and the
diagnosis `ninja check-exercise bigram` holds the pack to.

MISTAKES: (name, the answer's text, the mistaken text, root cause, kind), one each.
"""

_MEAN = "dlogprobs[torch.arange(N), ys] = -1.0 / N"
_DW = "dW = xenc.T @ dlogits + reg * 2 * W / W.numel()"
MISTAKES = (
    ("the mean forgotten", _MEAN, "dlogprobs[torch.arange(N), ys] = -1.0", "dlogprobs", "scale"),
    ("the mean's sign", _MEAN, "dlogprobs[torch.arange(N), ys] = 1.0 / N", "dlogprobs", "sign"),
    ("N hard-coded", _MEAN, "dlogprobs[torch.arange(N), ys] = -1.0 / 5", "dlogprobs", "hard-coded-size"),
    ("log's derivative", "dprobs = (1.0 / probs) * dlogprobs", "dprobs = probs * dlogprobs", "dprobs", "local"),
    ("summed over the batch", "dcounts_sum_inv = (counts * dprobs).sum(1, keepdim=True)",
     "dcounts_sum_inv = (counts * dprobs).sum(0, keepdim=True)", "dcounts_sum_inv", "wrong-axis"),
    ("the power rule's sign", "dcounts_sum = (-counts_sum**-2) * dcounts_sum_inv",
     "dcounts_sum = (counts_sum**-2) * dcounts_sum_inv", "dcounts_sum", "sign"),
    ("counts' second use", "dcounts += torch.ones_like(counts) * dcounts_sum\n", "", "dcounts", "missing-branch"),
    ("exp's derivative", "dlogits = counts * dcounts", "dlogits = dcounts", "dlogits", "local"),
    ("dW transposed (W is square)", _DW, f"dW = ({_DW[5:]}).T", "dW", "transpose"),
    ("the regularizer forgotten", _DW, "dW = xenc.T @ dlogits", "dW", "missing-branch"),
    ("the regularizer as a sum", _DW, "dW = xenc.T @ dlogits + reg * 2 * W", "dW", "local"),
    ("V*V hard-coded", _DW, "dW = xenc.T @ dlogits + reg * 2 * W / 729", "dW", "hard-coded-size"),
)
