"""The exercise API, what packs are written against: an exercise and its instances, its forward pass
and autograd's truth, how a value compares with it, the training loop, and the registry of packs.
Imports `results` and `reading` only; `isolation`, `judging`, the commands and the packs may import it."""
