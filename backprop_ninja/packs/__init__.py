"""The built-in packs, each the exercises of one lecture of the series: `makemore4` (part 4's
exercises 1-4), `bigram` (part 1), `mlp` (part 2) and `micrograd`. Each defines a `PACK`
(`engine.registry.Pack`), which the registry finds by name.

None holds its worked solutions: they are in the repository's reference/ folder, beside this package
and never installed with it, which each pack names in its `reference_files`."""
from pathlib import Path

# Found from this file, not the working directory: the repository is the folder around the package.
REFERENCE_FOLDER = Path(__file__).resolve().parents[2] / "reference"
