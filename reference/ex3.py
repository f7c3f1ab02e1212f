"""Exercise 3, worked: dhprebn from dhpreact through the whole batchnorm in one go."""

dhprebn = bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0) - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))
