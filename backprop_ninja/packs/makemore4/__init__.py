"""The makemore4 pack, makemore part 4's "becoming a backprop ninja": the MLP and its forward passes
(`model`), the names data (`data`), the training loop and exercise 4's training stage (`training`),
and the four exercises defined on them (`exercises`), from which stubs, checks and docs derive."""
