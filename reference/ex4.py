"""Exercise 4, worked: one training step's backward pass, from exercises 2 and 3 put together."""

# cross-entropy, in one go (exercise 2)
dlogits = F.softmax(logits, 1)
dlogits[range(n), Yb] -= 1
dlogits /= n
# second layer
dh = dlogits @ W2.T
dW2 = h.T @ dlogits
db2 = dlogits.sum(0)
# tanh
dhpreact = (1.0 - h**2) * dh
# batchnorm, in one go (exercise 3)
dbngain = (bnraw * dhpreact).sum(0, keepdim=True)
dbnbias = dhpreact.sum(0, keepdim=True)
dhprebn = bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0) - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))
# first layer
dembcat = dhprebn @ W1.T
dW1 = embcat.T @ dhprebn
db1 = dhprebn.sum(0)
# embedding: every occurrence of a character adds into its row of dC
demb = dembcat.view(emb.shape)
dC = torch.zeros_like(C).index_add_(0, Xb.view(-1), demb.view(-1, demb.shape[-1]))

grads = [dC, dW1, db1, dW2, db2, dbngain, dbnbias]
