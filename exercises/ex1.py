"""Exercise 1: backprop through the whole thing manually.

Backpropagate through exactly all of the variables as they are defined in the forward
pass, one by one, from dlogprobs back to dC. Tensors used more than once (counts,
logits, bndiff, hprebn) need the gradients from each use added up.

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
'not computed yet'). Check your work with:  ninja check ex1 ex1.py
"""

dlogprobs = None  # like logprobs: (32, 27)
dprobs = None  # like probs: (32, 27)
dcounts_sum_inv = None  # like counts_sum_inv: (32, 1)
dcounts_sum = None  # like counts_sum: (32, 1)
dcounts = None  # like counts: (32, 27)
dnorm_logits = None  # like norm_logits: (32, 27)
dlogit_maxes = None  # like logit_maxes: (32, 1)
dlogits = None  # like logits: (32, 27)
dh = None  # like h: (32, 64)
dW2 = None  # like W2: (64, 27)
db2 = None  # like b2: (27,)
dhpreact = None  # like hpreact: (32, 64)
dbngain = None  # like bngain: (1, 64)
dbnbias = None  # like bnbias: (1, 64)
dbnraw = None  # like bnraw: (32, 64)
dbnvar_inv = None  # like bnvar_inv: (1, 64)
dbnvar = None  # like bnvar: (1, 64)
dbndiff2 = None  # like bndiff2: (32, 64)
dbndiff = None  # like bndiff: (32, 64)
dbnmeani = None  # like bnmeani: (1, 64)
dhprebn = None  # like hprebn: (32, 64)
dembcat = None  # like embcat: (32, 30)
dW1 = None  # like W1: (30, 64)
db1 = None  # like b1: (64,)
demb = None  # like emb: (32, 3, 10)
dC = None  # like C: (27, 10)
