"""Exercise 2: backprop through cross_entropy in one go.

Write dlogits directly from logits and Yb, without the loss's intermediate tensors:
write the loss of one example mathematically, differentiate it with respect to each
logit, simplify, then vectorise over the batch. The result should match autograd
approximately (the lecture sees a maxdiff of about 5e-9).

Your code runs in a namespace that already holds, by the lecture's names and as plain
tensors with no autograd history: torch, F, n, batch_size, n_hidden, n_embd, block_size,
vocab_size, Xb, Yb, the parameters C, W1, b1, W2, b2, bngain, bnbias, and every tensor
of the forward pass:

    emb = C[Xb]  # embed the characters into vectors
    embcat = emb.view(emb.shape[0], -1)  # concatenate the vectors
    hprebn = embcat @ W1 + b1  # hidden layer pre-activation
    bnmeani = 1/n*hprebn.sum(0, keepdim=True)
    bndiff = hprebn - bnmeani
    bndiff2 = bndiff**2
    bnvar = 1/(n-1)*(bndiff2).sum(0, keepdim=True)  # Bessel's correction (dividing by n-1, not n)
    bnvar_inv = (bnvar + 1e-5)**-0.5
    bnraw = bndiff * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    h = torch.tanh(hpreact)  # hidden layer
    logits = h @ W2 + b2  # output layer
    logit_maxes = logits.max(1, keepdim=True).values
    norm_logits = logits - logit_maxes  # subtract max for numerical stability
    counts = norm_logits.exp()
    counts_sum = counts.sum(1, keepdims=True)
    counts_sum_inv = counts_sum**-1  # not 1.0/counts_sum: **-1 keeps backprop bit-exact
    probs = counts * counts_sum_inv
    logprobs = probs.log()
    loss = -logprobs[range(n), Yb].mean()

Replace each None with your gradient (as many lines as you need; a name left as None is
'not computed yet'). Check your work with:  ninja check ex2 ex2.py
"""

dlogits = None  # like logits: (32, 27)
