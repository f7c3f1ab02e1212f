"""Known-wrong answers to exercise 2 of makemore part 4, one mistake each: edits of reference/ex2.py,
and the diagnosis `ninja check-exercise makemore4` holds the pack to.

MISTAKES: (name, the answer's text, the mistaken text, root cause, kind, words the root cause's
message says), one each.
"""

MISTAKES = (
    ("ex2 without the mean's 1/n", 'dlogits /= n\n', '', 'dlogits', 'scale', 'n (32)'),
    ('ex2 softmax over dim 0', 'F.softmax(logits, 1)', 'F.softmax(logits, 0)', 'dlogits', 'wrong-axis', 'dim 1'),
    ('ex2 divided by 32', 'dlogits /= n', 'dlogits /= 32', 'dlogits', 'hard-coded-size', '32'),
    ('ex2 plus one at the label', '-= 1', '+= 1', 'dlogits', 'local', 'wrong even from right inputs'),
)
