"""mlp, worked: makemore part 2's backward pass in compact form, cross-entropy and tanh each in one go,
dlogits back to dC."""

dlogits = F.softmax(logits, 1)
dlogits[range(n), Y] -= 1
dlogits /= n
dh = dlogits @ W2.T
dW2 = h.T @ dlogits
db2 = dlogits.sum(0)
dhpreact = (1.0 - h**2) * dh
dW1 = emb.view(-1, block_size * n_embd).T @ dhpreact
db1 = dhpreact.sum(0)
demb = (dhpreact @ W1.T).view(emb.shape)
dC = torch.zeros_like(C)
dC.index_add_(0, X.view(-1), demb.view(-1, n_embd))
