"""The micrograd pack: its exercise; its reference `Value` and known-wrong ones, with the diagnosis each
must get, are in the repository's reference/ folder (`reference_files`), not in the package."""
from __future__ import annotations

from ...engine.exercises.registry import Pack, ReferenceFiles
from .. import REFERENCE_FOLDER
from .exercise import MICROGRAD

PACK = Pack("micrograd", "The micrograd lecture: a Value class that backpropagates", (MICROGRAD,),
            found_by_writes=True,
            reference_files=ReferenceFiles(REFERENCE_FOLDER, {MICROGRAD.key: "micrograd.py"},
                                           {MICROGRAD.key: "mistakes/micrograd.py"}))
