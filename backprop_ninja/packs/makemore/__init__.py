"""What the makemore lectures' packs share, below them all (a pack imports this, never another
pack): the names data and its vocabulary (`data`), the MLP with its sizes, parameters and forward
passes (`model`), and its training loop (`training`)."""
