"""`DataSpec`: one training source as data (path, layout, label map, name); `load_sources`."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from typing_extensions import Self

from xraycls._serial import Serial
from xraycls.data._dataset import Dataset
from xraycls.data._labelmap import LabelMap
from xraycls.data._load import load_dataset
from xraycls.data._merge import merge, with_classes
from xraycls.errors import ConfigError

__all__ = ["DataSpec", "load_sources"]


@dataclass(frozen=True)
class DataSpec(Serial):
    """One data source of a (multi-source) training run: where, which layout, which labels.

    Attributes:
        path: Dataset folder or CSV manifest.
        layout: ``"auto"`` or a layout name (``"nih-cxr14"``, ``"folders"``...).
        label_map: A preset name (``"paper"``) or ``{raw label or finding: class or None}``
            (``None`` drops); see :class:`LabelMap`.
        name: The dataset's name in :func:`merge` (patient-id prefix, ``dataset`` column,
            default source); default: the folder name of ``path``.

    Examples:
        >>> from xraycls.data import DataSpec
        >>> spec = DataSpec("../shared/data/cxr-adult", label_map={"Pneumonia": "Viral Pneumonia"})
        >>> spec.dataset_name
        'cxr-adult'
        >>> DataSpec.from_dict(spec.to_dict()) == spec
        True
        >>> DataSpec.from_dict({"path": "x", "labelmap": "paper"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        xraycls.errors.ConfigError: DataSpec: unknown key 'labelmap'; expected one of [...]
    """

    path: str
    layout: str = "auto"
    label_map: str | dict[str, str | None] | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.path, str | os.PathLike) or not os.fspath(self.path):
            raise ConfigError(f"DataSpec: path must be a non-empty path, got {self.path!r}")
        object.__setattr__(self, "path", os.fspath(self.path))
        lm = self.label_map
        if isinstance(lm, LabelMap):
            raise ConfigError(
                "DataSpec: label_map must be a preset name or a plain dict (JSON); pass a "
                "LabelMap object to load_dataset(label_map=...) instead"
            )
        if lm is not None and not isinstance(lm, str | Mapping):
            raise ConfigError(
                f"DataSpec: label_map must be a preset name or a dict, got {type(lm).__name__}"
            )
        if isinstance(lm, Mapping):
            LabelMap(dict(lm))  # validates keys and values
            object.__setattr__(self, "label_map", dict(lm))
        if self.name is not None and not str(self.name).strip():
            raise ConfigError("DataSpec: name must not be empty")

    @property
    def dataset_name(self) -> str:
        """:attr:`name`, else the folder (or CSV file) name of :attr:`path`."""
        if self.name:
            return self.name
        base = os.path.basename(os.path.normpath(os.path.abspath(self.path)))
        return os.path.splitext(base)[0] if base.lower().endswith(".csv") else base

    def load(self, *, classes: Sequence[str] | None = None, on_error: str = "raise") -> Dataset:
        """Load the dataset (``load_dataset`` with this layout and label map).

        Args:
            classes: The task's classes, in this order: images whose (mapped) label is not
                among them are dropped and counted in ``ds.report.dropped_classes``; a listed
                class the data lacks is kept with 0 images. ``None`` keeps every class.
            on_error: ``"raise"`` or ``"skip"``, as in ``load_dataset``.
        """
        ds = load_dataset(
            self.path, layout=self.layout, label_map=self.label_map, on_error=on_error
        )
        return ds if classes is None else with_classes(ds, classes)

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | str) -> Self:
        """Inverse of :meth:`to_dict` (a plain string is the path); unknown keys are rejected."""
        return cls(data) if isinstance(data, str) else super().from_dict(data)


def load_sources(
    specs: Sequence[DataSpec | str],
    *,
    classes: Sequence[str] | None = None,
    on_error: str = "raise",
) -> Dataset:
    """Load every source and :func:`merge` them (a plain string is ``DataSpec(path)``).

    Args:
        specs: The sources.
        classes: The task's classes in this order; other images are dropped and counted per
            source in ``ds.report.dropped_classes`` (``"<name>: <class or reason>"``).
        on_error: ``"raise"`` or ``"skip"``, as in ``load_dataset``.

    Returns:
        The merged :class:`Dataset` (meta column ``dataset`` names each image's source spec).

    Examples:
        >>> from xraycls.data import DataSpec, load_sources
        >>> ds = load_sources(["../shared/data/cxr3", DataSpec("../shared/data/cxr-adult",
        ...     label_map={"Pneumonia": "Viral Pneumonia"})])  # doctest: +SKIP
        >>> len(ds), len(set(ds.sources))  # doctest: +SKIP
        (2061, 6)
    """
    if isinstance(specs, str | DataSpec):
        specs = [specs]
    items = [s if isinstance(s, DataSpec) else DataSpec.from_dict(s) for s in specs]
    if not items:
        raise ConfigError("load_sources: no sources given")
    datasets = [s.load(classes=classes, on_error=on_error) for s in items]
    names: list[str] = []
    for s in items:
        base, name, k = s.dataset_name, s.dataset_name, 1
        while s.name is None and name in names:
            k += 1
            name = f"{base}-{k}"
        names.append(name)
    merged = merge(datasets, names=names)
    return merged if classes is None else with_classes(merged, classes)
