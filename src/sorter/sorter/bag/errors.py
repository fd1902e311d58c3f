"""The one exception type of sorter.bag: every bad input (missing metadata, corrupt file,
unknown topic or type) ends as a BagError whose text says what is wrong and what to do."""

from __future__ import annotations


class BagError(RuntimeError):
    """A bag cannot be read, written, repaired or played as asked; the message says why."""
