"""The MLP's backward pass, compact.

makemore part 2 trains an MLP: embed each of block_size characters, concatenate, a tanh
hidden layer, logits, cross-entropy. Write the gradients loss.backward() fills in, each
layer in one go: cross-entropy's gradient from the softmax, tanh's from its output. Then
your gradients train the network, next to a twin run driven by autograd.

Your code runs in a namespace that already holds, by the lecture's names and as plain
tensors with no autograd history: torch, F, X, Y, n, block_size, n_embd, n_hidden,
vocab_size, the parameters C, W1, b1, W2, b2, and every tensor of the forward pass:

    emb = C[X]  # (n, block_size, n_embd)
    hpreact = emb.view(-1, block_size * n_embd) @ W1 + b1
    h = torch.tanh(hpreact)  # (n, n_hidden)
    logits = h @ W2 + b2  # (n, vocab_size)
    loss = F.cross_entropy(logits, Y)

Replace each None with your gradient (as many lines as you need; a name left as None is
'not computed yet'). Check your work with:  ninja check mlp mlp.py
"""

dlogits = None  # like logits: (32, 27)
dh = None  # like h: (32, 200)
dW2 = None  # like W2: (200, 27)
db2 = None  # like b2: (27,)
dhpreact = None  # like hpreact: (32, 200)
dW1 = None  # like W1: (30, 200)
db1 = None  # like b1: (200,)
demb = None  # like emb: (32, 3, 10)
dC = None  # like C: (27, 10)
