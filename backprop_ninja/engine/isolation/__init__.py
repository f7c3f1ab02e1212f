"""Isolation: a learner's code runs in a worker process forked from a zygote (`zygote_client` is the
checker's half of the pair, `zygote_server` the zygote's), behind bars on autograd and imports,
confined by the kernel, in a sandbox and a cgroup, speaking typed messages over a socket (`protocol`,
`wire`). Imports `results`, `reading` and `exercises`; `judging` and the commands may import it."""
