"""bigram, worked: makemore part 1's backward pass, dlogprobs back to dW, one gradient at a time, the
regularizer included."""

dlogprobs = torch.zeros_like(logprobs)
dlogprobs[torch.arange(N), ys] = -1.0 / N
dprobs = (1.0 / probs) * dlogprobs
dcounts_sum_inv = (counts * dprobs).sum(1, keepdim=True)
dcounts_sum = (-counts_sum**-2) * dcounts_sum_inv
dcounts = counts_sum_inv * dprobs
dcounts += torch.ones_like(counts) * dcounts_sum
dlogits = counts * dcounts
dW = xenc.T @ dlogits + reg * 2 * W / W.numel()
