"""Exercise 4: put it all together.

Train the MLP (n_hidden 200) with your own backward pass instead of loss.backward().
Given one training step's forward pass, write the gradients of the seven parameters, dC,
dW1, db1, dW2, db2, dbngain, dbnbias (or the lecture's list grads = [dC, dW1, db1, dW2,
db2, dbngain, dbnbias]). Exercises 2 and 3 make this short. Your code runs under
torch.no_grad(), as in the lecture: it must not need autograd. The check compares your
gradients with autograd at points along a training run, then trains with them next to a
twin run driven by autograd, and `ninja train` runs the lecture's whole exercise.

Your code runs in a namespace that already holds, by the lecture's names and as plain
tensors with no autograd history: torch, F, n, batch_size, n_hidden, n_embd, block_size,
vocab_size, Xb, Yb, the parameters C, W1, b1, W2, b2, bngain, bnbias, and every tensor
of the forward pass:

    emb = C[Xb]  # embed the characters into vectors
    embcat = emb.view(emb.shape[0], -1)  # concatenate the vectors
    hprebn = embcat @ W1 + b1  # hidden layer pre-activation
    bnmean = hprebn.mean(0, keepdim=True)
    bnvar = hprebn.var(0, keepdim=True, unbiased=True)
    bnvar_inv = (bnvar + 1e-5)**-0.5
    bnraw = (hprebn - bnmean) * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    h = torch.tanh(hpreact)  # hidden layer
    logits = h @ W2 + b2  # output layer
    loss = F.cross_entropy(logits, Yb)  # loss function

Replace each None with your gradient (as many lines as you need; a name left as None is
'not computed yet'). Check your work with:  ninja check ex4 ex4.py
"""

dW2 = None  # like W2: (200, 27)
db2 = None  # like b2: (27,)
dbngain = None  # like bngain: (1, 200)
dbnbias = None  # like bnbias: (1, 200)
dW1 = None  # like W1: (30, 200)
db1 = None  # like b1: (200,)
dC = None  # like C: (27, 10)
