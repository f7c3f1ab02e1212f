"""The problem the exercises are about, as makemore part 4 sets it: the MLP and its forward passes
(`model`), the names data (`data`), the training loop (`training`), and the four exercises defined
on them (`exercises`), from which stubs, checks and docs derive."""
