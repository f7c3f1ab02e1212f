"""What a pack author gets wrong, told as such: the one error of the exercise API."""
from __future__ import annotations


class PackError(Exception):
    """A pack that cannot be loaded, or two packs that define the same exercise: a user error."""
