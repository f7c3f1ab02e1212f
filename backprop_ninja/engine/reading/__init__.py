"""Reading: a submission's cells and snippets from a notebook or script, their syntax, and each
exercise's answer found in them (by tag, by what it assigns, or by what it computes). Imports no other
room; `exercises`, `isolation`, `judging` and the commands may import it."""
