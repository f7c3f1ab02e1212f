"""`ninja check`: a learner's answer checked, shown as a table for a terminal or a notebook
(`render`), from stubs rendered from the pack's definitions (`stubs`), in a learner's own notebook
(`notebook`), and a pack held to what it declares (`pack`). The verdict itself is the engine's
(`engine/judging/verdict.py`), which every command that checks shares."""
from ..engine.judging.verdict import check, check_each

__all__ = ["check", "check_each"]
