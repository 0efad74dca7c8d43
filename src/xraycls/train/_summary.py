"""What a model was trained on, as data that travels with it (``training_data`` in the file).

A model trained on children's Normal films and adults' COVID films is no use on adult Normal
films, and the model file should say so wherever it goes (``xraycls serve``'s ``/model``, the
report). :func:`training_summary` condenses a training ``Dataset`` into a small JSON-ready dict.

Examples:
    >>> import numpy as np
    >>> from xraycls.data import Dataset
    >>> ds = Dataset(("a", "b", "c"), np.array([0, 1, 1]), ("COVID", "Normal"),
    ...              meta={"source": ["h1", "kids", "kids"], "age": ["60", "3", ""]})
    >>> s = training_summary(ds)
    >>> s["age"]
    {'min': 3.0, 'max': 60.0, 'median': 31.5, 'known': 2, 'unknown': 1}
    >>> s["sources"]["kids"]
    {'images': 2, 'classes': {'Normal': 2}, 'age': {'min': 3.0, 'max': 3.0, 'median': 3.0, \
'known': 1, 'unknown': 1}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from xraycls.data import canonical_class

__all__ = ["label_map_notes", "training_summary"]


def _ages(values: Sequence[str]) -> dict[str, float | int] | None:
    """Range of the known ages, and how many images have none (a range over the known ages
    alone would hide a source of children whose ages were never recorded)."""
    ages = []
    for v in values:
        try:
            age = float(str(v).rstrip("Yy"))
        except ValueError:
            continue
        if 0 <= age < 130:
            ages.append(age)
    if not ages:
        return None
    return {
        "min": float(min(ages)),
        "max": float(max(ages)),
        "median": float(np.median(ages)),
        "known": len(ages),
        "unknown": len(values) - len(ages),
    }


def training_summary(data: Any, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Sources, classes, image counts and age range of a training ``Dataset``.

    Args:
        data: The training :class:`xraycls.data.Dataset` (after balancing: counts are of the
            images the model was fitted on, copies included).
        extra: More keys (``label_maps``, ``notes``...) merged into the result.

    Returns:
        ``{"classes", "n_images", "sources": {source: {"images", "classes": {class: n}}},
        "age": {"min", "max", "median", "known", "unknown"} or None, "label_maps", "notes"}``;
        each source also has its own ``"age"`` (None where none of its ages is known) when
        the data has an ``age`` column.
    """
    names = list(data.class_names)
    labels = np.asarray(data.labels)
    meta = getattr(data, "meta", {}) or {}
    ages = meta.get("age")
    sources: dict[str, dict[str, Any]] = {}
    source_ages: dict[str, list[str]] = {}
    for i, (label, source) in enumerate(zip(labels.tolist(), data.sources, strict=True)):
        row = sources.setdefault(str(source), {"images": 0, "classes": {}})
        row["images"] += 1
        row["classes"][names[label]] = row["classes"].get(names[label], 0) + 1
        if ages is not None:
            source_ages.setdefault(str(source), []).append(ages[i])
    for source, values in source_ages.items():
        sources[source]["age"] = _ages(values)
    summary: dict[str, Any] = {
        "classes": names,
        "n_images": len(labels),
        "sources": dict(sorted(sources.items())),
        "age": _ages(meta["age"]) if "age" in meta else None,
        "label_maps": {},
        "notes": [],
    }
    summary.update(dict(extra or {}))
    return summary


def label_map_notes(training_data: Mapping[str, Any] | None) -> list[str]:
    """Sentences saying which classes a label map filled with other datasets' labels.

    A model whose third class was trained on adult "Pneumonia" films keeps the name
    ``Viral Pneumonia`` but means "non-COVID pneumonia"; every report on it should say so.

    Examples:
        >>> label_map_notes({"label_maps": {"cxr-adult": {"Pneumonia": "Viral Pneumonia"}}})
        ["class 'Viral Pneumonia' was also trained on cxr-adult's 'Pneumonia' (label map): \
read it as non-COVID pneumonia"]
    """
    notes = []
    for dataset, mapping in ((training_data or {}).get("label_maps") or {}).items():
        if not isinstance(mapping, Mapping):
            continue
        for raw, target in mapping.items():
            if target is None or canonical_class(str(raw)) == canonical_class(str(target)):
                continue  # a drop, or a spelling (NORMAL -> Normal), not a new meaning
            meaning = (
                ": read it as non-COVID pneumonia"
                if "pneumonia" in str(target).lower() and "covid" not in str(raw).lower()
                else ""
            )
            notes.append(
                f"class {target!r} was also trained on {dataset}'s {raw!r} (label map){meaning}"
            )
    return notes
