"""Text that came from a learner (an id from a file name, an exception's message, what their code
printed), made safe for where it is shown: a terminal, a spreadsheet, a Markdown page. Shown, never
obeyed."""
from __future__ import annotations

import dataclasses
import enum
import re
from typing import Any, TypeVar

T = TypeVar("T")

# Control characters but the newline and the tab: an escape sequence can move the cursor, erase the
# lines above and print a forged verdict.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# What a spreadsheet reads as the start of a formula.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
# Markdown's punctuation that can start markup; a backslash shows it as it is (CommonMark).
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def visible(text: str) -> str:
    """`text` with each control character shown as its escape (`\\x1b`), so a terminal shows it."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def visible_all(value: T) -> T:
    """A record (dataclasses, tuples, lists, dicts of them) with every string in it `visible`."""
    if isinstance(value, enum.Enum):  # statuses and kinds: the grader's own words
        return value
    if isinstance(value, str):
        return visible(value)  # type: ignore[return-value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: visible_all(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)  # type: ignore[return-value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(visible_all(v) for v in value)  # type: ignore[return-value]
    if isinstance(value, list):
        return [visible_all(v) for v in value]  # type: ignore[return-value]
    if isinstance(value, dict):
        return {k: visible_all(v) for k, v in value.items()}  # type: ignore[return-value]
    return value


def csv_cell(text: str) -> str:
    """`text` as a spreadsheet shows it, never as a formula (`=HYPERLINK(...)` becomes text)."""
    return "'" + text if text.startswith(_FORMULA) else text


def markdown_text(text: Any) -> str:
    """`text` as Markdown shows it, its markup characters escaped, on one line."""
    return _MARKDOWN.sub(r"\\\1", visible(str(text))).replace("\n", " ")
