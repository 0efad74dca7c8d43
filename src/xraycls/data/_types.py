"""What splitting and duplicate search read from a dataset, as a structural type.

``_split`` and ``_duplicates`` work on anything shaped like a :class:`~xraycls.data.Dataset`;
naming that shape here (instead of importing ``Dataset``, whose methods call them) keeps the
data modules free of import cycles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

__all__ = ["ImageSet"]


class ImageSet(Protocol):
    """The read-only fields of a :class:`~xraycls.data.Dataset` used below it."""

    @property
    def files(self) -> tuple[str, ...]: ...
    @property
    def labels(self) -> np.ndarray: ...
    @property
    def class_names(self) -> tuple[str, ...]: ...
    @property
    def groups(self) -> tuple[str, ...] | None: ...
    @property
    def origins(self) -> tuple[str, ...] | None: ...
    @property
    def images(self) -> list[np.ndarray | None] | None: ...
    @property
    def meta(self) -> Mapping[str, Sequence[str]]: ...
    @property
    def sources(self) -> tuple[str, ...]: ...
    def column(self, name: str) -> tuple[str, ...]: ...
    def __len__(self) -> int: ...
