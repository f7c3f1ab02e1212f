"""Known-wrong answers to exercise 3 of makemore part 4, one mistake each: edits of reference/ex3.py,
and the diagnosis `ninja check-exercise makemore4` holds the pack to.

MISTAKES: (name, the answer's text, the mistaken text, root cause, kind, words the root cause's
message says), one each.
"""

MISTAKES = (
    ('ex3 over 32', 'bngain * bnvar_inv / n', 'bngain * bnvar_inv / 32', 'dhprebn', 'hard-coded-size', '32'),
    ('ex3 negated', 'bngain * bnvar_inv / n', '-bngain * bnvar_inv / n', 'dhprebn', 'sign', 'negated'),
    ('ex3 sum over dim 1',
     'n * dhpreact - dhpreact.sum(0)',
     'n * dhpreact - dhpreact.sum(1, keepdim=True)',
     'dhprebn',
     'wrong-axis',
     'dim 0'),
    ('ex3 without Bessel', 'n / (n - 1) * ', '', 'dhprebn', 'local', 'wrong even from right inputs'),
    ('ex3 with autograd',
     'dhprebn = ',
     'hprebn.requires_grad_()\ndhprebn = torch.autograd.grad(hprebn.sum(), hprebn)[0]\ndhprebn = ',
     'dhprebn',
     'autograd-used',
     'line 4 reaches for autograd (torch.autograd)'),
)
