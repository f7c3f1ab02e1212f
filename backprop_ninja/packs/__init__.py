"""The built-in packs, each the exercises of one lecture of the series: `makemore4` (part 4's
exercises 1-4), `bigram` (part 1) and `mlp` (part 2). Each defines a `PACK` (`engine.registry.Pack`),
which the registry finds by name."""
