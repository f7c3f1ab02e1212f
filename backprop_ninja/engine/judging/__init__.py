"""Judging: the learner's code run on every instance and compared with autograd (`trials`), what a
wrong answer's mistake is (`instrument`, `diagnosis`), and a training stage beside autograd's twin
(`convergence`). Imports every other room; only the commands (and a pack that diagnoses itself) import it."""
