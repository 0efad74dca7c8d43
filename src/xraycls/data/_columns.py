"""Names shared by the per-image columns of a dataset (``Dataset.meta``)."""

from __future__ import annotations

__all__ = ["SOURCE", "UNKNOWN"]

#: The per-image column that ``Dataset.sources`` reads.
SOURCE = "source"
#: The value of a per-image column for an image nothing says anything about.
UNKNOWN = "unknown"
