"""The makemore4 pack, makemore part 4's "becoming a backprop ninja": the four exercises (`exercises`),
defined on the makemore lectures' shared MLP, data and training loop (`..makemore`), from which
stubs, checks and docs derive."""
