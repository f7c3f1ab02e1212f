"""The bigram net: backprop through its loss by hand.

makemore part 1 trains a bigram model as a one-layer net: a one-hot character times W
gives logits, softmax gives the next character's probabilities, and the loss is their
mean negative log-likelihood plus a regularizer, reg times the mean of W squared. The
lecture calls loss.backward(); compute every gradient it computes yourself, from
dlogprobs back to dW.

Your code runs in a namespace that already holds, by the lecture's names and as plain
tensors with no autograd history: torch, F, xs, ys, N, V, reg, the parameters W, and
every tensor of the forward pass:

    xenc = F.one_hot(xs, num_classes=V).to(W.dtype)  # input to the network: one-hot encoding
    logits = xenc @ W  # predict log-counts
    counts = logits.exp()  # counts, like the bigram table's
    counts_sum = counts.sum(1, keepdim=True)
    counts_sum_inv = counts_sum**-1
    probs = counts * counts_sum_inv  # probabilities for next character
    logprobs = probs.log()
    loss = -logprobs[torch.arange(N), ys].mean() + reg * (W**2).mean()  # with the regularizer

Replace each None with your gradient (as many lines as you need; a name left as None is
'not computed yet'). Check your work with:  ninja check bigram bigram.py
"""

dlogprobs = None  # like logprobs: (5, 27)
dprobs = None  # like probs: (5, 27)
dcounts_sum_inv = None  # like counts_sum_inv: (5, 1)
dcounts_sum = None  # like counts_sum: (5, 1)
dcounts = None  # like counts: (5, 27)
dlogits = None  # like logits: (5, 27)
dW = None  # like W: (27, 27)
