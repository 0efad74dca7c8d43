"""Confounding report: the class x source table of a dataset and what it lets a model cheat on.

A classifier can score well by recognising where an image comes from (hospital, scanner, age
of the patients) instead of the disease. When a class comes from sources that give no other
class, the source alone predicts the class; :func:`describe` measures how far.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from xraycls._serial import Serial
from xraycls.data._columns import SOURCE, UNKNOWN
from xraycls.data._groups import kermany_patient
from xraycls.errors import ConfigError

if TYPE_CHECKING:
    from xraycls.data._types import ImageSet

__all__ = ["DatasetDescription", "describe"]

_KERMANY_NOTE = (
    "Kermany et al. file names: paediatric films (children aged 1-5) from Guangzhou Women and "
    "Children's Medical Center"
)


@dataclass(frozen=True)
class DatasetDescription(Serial):
    """The class x ``column`` table of a dataset with its confounding warnings.

    Attributes:
        column: The per-image column described (``"source"`` by default).
        class_names: Class names in label order.
        n: Number of images.
        table: Column value -> class name -> image count (values by decreasing count).
        source_only_accuracy: Accuracy of a classifier that only knew the column value
            (the majority class of each value); ``None`` when the value is unknown everywhere.
        majority_accuracy: Accuracy of always answering the largest class, for comparison.
        separable: Class name -> one-vs-rest accuracy of telling that class from the rest by
            the column value alone (1.0: the value gives the class away).
        notes: Column value -> what the data says about its population (e.g. Kermany file
            names: paediatric films).
        warnings: Plain sentences with numbers, most important first.
        ages: Column value -> class name -> age summary (``"18-85 (median 48, n=300)"``, with
            ``"; paediatric"`` or ``"; 12 under 18"``), where the ``age`` column is known.

    Examples:
        >>> import numpy as np
        >>> from xraycls.data import Dataset
        >>> ds = Dataset(tuple("abcdef"), np.array([0, 0, 1, 1, 2, 2]), ("COVID", "N", "V"))
        >>> d = ds.with_sources(["h1", "h2", "kids", "kids", "kids", "kids"]).describe()
        >>> d.source_only_accuracy, d.separable["COVID"]
        (0.6666666666666666, 1.0)
        >>> print(d.warnings[0])  # doctest: +NORMALIZE_WHITESPACE
        N and V share one source (kids) and come from no other;
        COVID comes from 2 other sources (h1 and h2).
    """

    column: str
    class_names: list[str]
    n: int
    table: dict[str, dict[str, int]]
    source_only_accuracy: float | None
    majority_accuracy: float
    separable: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    ages: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_text(self) -> str:
        """The table and the warnings as plain text (what ``xraycls data inspect`` prints)."""
        names = self.class_names
        first = max([len(self.column), 5, *(len(v) for v in self.table)])
        widths = [max(len(c), 6) for c in names]
        head = f"{self.column:<{first}}  " + "  ".join(
            f"{c:>{w}}" for c, w in zip(names, widths, strict=True)
        )
        lines = [f"class x {self.column} ({self.n} images):", "  " + head + "   total"]
        for value, row in self.table.items():
            cells = "  ".join(f"{row.get(c, 0):>{w}}" for c, w in zip(names, widths, strict=True))
            lines.append(f"  {value:<{first}}  {cells}  {sum(row.values()):>6}")
        totals = [sum(r.get(c, 0) for r in self.table.values()) for c in names]
        cells = "  ".join(f"{t:>{w}}" for t, w in zip(totals, widths, strict=True))
        lines.append(f"  {'total':<{first}}  {cells}  {self.n:>6}")
        for value, note in self.notes.items():
            lines.append(f"  note: {value}: {note}")
        if self.ages:
            lines.append(f"age (years) by class x {self.column}:")
            for value, by_class in self.ages.items():
                for c, summary in by_class.items():
                    lines.append(f"  {value} / {c}: {summary}")
        if self.source_only_accuracy is not None:
            lines.append(
                f"{self.column}-only accuracy: {self.source_only_accuracy:.3f} "
                f"(majority class everywhere: {self.majority_accuracy:.3f})"
            )
        if self.warnings:
            lines.append("warnings:")
            lines += [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _population_notes(ds: ImageSet, values: tuple[str, ...]) -> dict[str, str]:
    """What the file names say about each value's population (Kermany: paediatric)."""
    paths = ds.meta.get("source_path")
    hits: Counter[str] = Counter()
    for i, value in enumerate(values):
        names = [ds.files[i]] + ([paths[i]] if paths is not None else [])
        if any(kermany_patient(p) is not None for p in names):
            hits[value] += 1
    sizes = Counter(values)
    return {
        v: f"{k} of {sizes[v]} images have {_KERMANY_NOTE}"
        for v, k in hits.items()
        if k * 2 >= sizes[v]
    }


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if 0 <= value <= 130 else None


def _age_summary(ages: list[float]) -> str:
    arr = np.asarray(ages)
    median = float(np.median(arr))
    young = int((arr < 18).sum())
    text = f"{arr.min():g}-{arr.max():g} (median {median:g}, n={arr.size})"
    if young == arr.size:
        text += "; paediatric"
    elif young:
        text += f"; {young} under 18"
    return text


def _ages(
    ds: ImageSet, values: tuple[str, ...], names: list[str], order: list[str]
) -> dict[str, dict[str, str]]:
    """Age summary per column value x class, where the ``age`` column gives a number."""
    column = ds.meta.get("age")
    if column is None:
        return {}
    found: dict[str, dict[str, list[float]]] = {}
    for value, label, age in zip(values, np.asarray(ds.labels).tolist(), column, strict=True):
        years = _number(age)
        if years is not None:
            found.setdefault(value, {}).setdefault(names[label], []).append(years)
    return {
        v: {c: _age_summary(found[v][c]) for c in names if c in found[v]}
        for v in order
        if v in found
    }


def describe(ds: ImageSet, by: str = SOURCE) -> DatasetDescription:
    """The class x ``by`` table of ``ds`` and its confounding warnings.

    Args:
        ds: The dataset.
        by: A per-image column of ``ds.meta`` (default ``"source"``).

    Returns:
        A :class:`DatasetDescription`.

    Raises:
        ConfigError: ``by`` is not a column of the dataset (``"source"`` always is).
    """
    if by != SOURCE and by not in ds.meta:
        raise ConfigError(
            f"describe(by={by!r}): the dataset has no such column; it has "
            f"{sorted(ds.meta) or 'none'} (from its CSV or MANIFEST.csv)"
        )
    values = ds.column(by)
    names = list(ds.class_names)
    labels = np.asarray(ds.labels).tolist()
    n = len(ds)
    counts: dict[str, Counter[str]] = {}
    for value, label in zip(values, labels, strict=True):
        counts.setdefault(value, Counter())[names[label]] += 1
    order = sorted(counts, key=lambda v: (-sum(counts[v].values()), v))
    table = {v: {c: counts[v][c] for c in names if counts[v][c]} for v in order}
    class_totals = Counter(names[k] for k in labels)
    majority = max(class_totals.values()) / n if n else 0.0
    notes = _population_notes(ds, values) if by == SOURCE else {}

    ages = _ages(ds, values, names, order)
    known = [v for v in order if v != UNKNOWN]
    if not known:
        warning = (
            f"no image says its {by}: the class x {by} confound cannot be checked. Give a "
            f"'{by}' column in the CSV or MANIFEST.csv, or set it with ds.with_meta()."
        )
        return DatasetDescription(
            by, names, n, table, None, majority, warnings=[warning], ages=ages
        )

    source_only = sum(max(counts[v].values()) for v in order) / n
    separable = _separable(counts, class_totals, names, n)
    warnings = _warnings(by, names, table, class_totals, notes, source_only, majority, n)
    if len(known) > 1:
        warnings += [
            f"the {by} alone tells {c} from the rest without a single error "
            f"(one-vs-rest accuracy {acc:.3f})."
            for c, acc in separable.items()
            if acc == 1.0
        ]
    return DatasetDescription(
        by, names, n, table, source_only, majority, separable, notes, warnings, ages
    )


def _separable(
    counts: dict[str, Counter[str]], class_totals: Counter[str], names: list[str], n: int
) -> dict[str, float]:
    """Per class: the one-vs-rest accuracy of the majority answer of each ``by`` value."""
    return {
        c: sum(max(row[c], sum(row.values()) - row[c]) for row in counts.values()) / n
        for c in names
        if class_totals[c]
    }


def _warnings(
    by: str,
    names: list[str],
    table: dict[str, dict[str, int]],
    class_totals: Counter[str],
    notes: dict[str, str],
    source_only: float,
    majority: float,
    n: int,
) -> list[str]:
    present = [c for c in names if class_totals[c]]
    sources_of = {c: [v for v, row in table.items() if row.get(c)] for c in present}
    groups = _components(present, table)
    out: list[str] = []
    if len(groups) > 1:
        out.append(_components_warning(by, groups, sources_of, table, notes))
        out.append(_unfixable_warning(by, groups, sources_of, table))
    else:
        out += [
            f"{c}: all {class_totals[c]} images come from one {by} ({sources_of[c][0]})."
            for c in present
            if len(sources_of[c]) == 1
        ]
    right = round(source_only * n)
    out.append(
        f"a classifier that only knew the {by} (majority class of each) would be right on "
        f"{right} of {n} images: accuracy {source_only:.3f}, against {majority:.3f} for always "
        "answering the largest class."
    )
    for v, row in table.items():
        if v != UNKNOWN and len(row) == 1 and len(present) > 1:
            ((c, k),) = row.items()
            out.append(f"{by} {v}: all {k} images are {c}.")
    return out


def _components(present: list[str], table: dict[str, dict[str, int]]) -> list[list[str]]:
    """Classes linked by a shared source, the largest component first.

    A component's sources give no image of any other component's classes, so the source
    predicts the component.
    """
    parent = {c: c for c in present}

    def find(c: str) -> str:
        while parent[c] != c:
            c = parent[c]
        return c

    for row in table.values():
        cls = [c for c in row if row[c]]
        for c in cls[1:]:
            parent[find(c)] = find(cls[0])
    components: dict[str, list[str]] = {}
    for c in present:
        components.setdefault(find(c), []).append(c)
    # Components with several classes first: "Normal and Viral Pneumonia share one source".
    return sorted(components.values(), key=lambda cls: -len(cls))


def _sources(
    cls: list[str], sources_of: dict[str, list[str]], table: dict[str, dict[str, int]]
) -> list[str]:
    """The sources of a component's classes, in the table's order."""
    return sorted({v for c in cls for v in sources_of[c]}, key=list(table).index)


def _components_warning(
    by: str,
    groups: list[list[str]],
    sources_of: dict[str, list[str]],
    table: dict[str, dict[str, int]],
    notes: dict[str, str],
) -> str:
    described: list[str] = []
    for k, cls in enumerate(groups):
        srcs = _sources(cls, sources_of, table)
        label = _join(srcs) + "".join(f"; {notes[s]}" for s in srcs if s in notes)
        other = "" if k == 0 else "other "
        count = f"one {other}{by}" if len(srcs) == 1 else f"{len(srcs)} {other}{by}s"
        if len(cls) > 1:
            described.append(f"{_join(cls)} share {count} ({label}) and come from no other")
        else:
            described.append(f"{cls[0]} comes from {count} ({label})")
    return "; ".join(described) + "."


def _unfixable_warning(
    by: str,
    groups: list[list[str]],
    sources_of: dict[str, list[str]],
    table: dict[str, dict[str, int]],
) -> str:
    only = "; ".join(
        f"every {_join(cls)} image comes from " + _join(_sources(cls, sources_of, table))
        for cls in groups
    )
    return (
        f"what preprocessing cannot fix: {only}. Each {by} is its own population, scanner "
        "and hospital, so age, body size and acquisition are confounded with the label. "
        "Lung crops, masks, equalisation or text removal take away borders and burned-in "
        "text, not the patients; only images of the missing (class, "
        f"{by}) pairs remove the confound. Measure it with leave-one-source-out "
        "(split(hold_out_sources=...)) and an external set."
    )
