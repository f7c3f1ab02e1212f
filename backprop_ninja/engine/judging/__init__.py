"""Judging: the verdict on an answer (`verdict`): the learner's code run on every instance and
compared with autograd (`trials`), a training stage beside autograd's twin (`convergence`), and what a
wrong answer's mistake is (`instrument`, `diagnosis`). Imports every other room; only the commands
(and a pack that diagnoses itself) import it."""
