"""The engine every command stands on: reading a submission (`submission`, `syntax`), running the
learner's code in a worker process of its own (`runner`, `zygote`, `worker`, `wire`, in `sandbox`
and `cgroup`, torch on one thread by `threads`), comparing it with autograd on every instance
(`trials`, `compare`), diagnosing what is wrong (`instrument`, `diagnosis`), exercise 4's training
(`convergence`), and the results as records (`records`, and `gradebook` for a class's)."""
