"""Manifest CSVs: the one column rule (file, patient group, per-image columns) and the one walk.

Two kinds of CSV describe a dataset. The data's own CSV (the ``csv`` layout, read by
:func:`xraycls.data._layouts.list_csv`) lists every file with its label. A ``MANIFEST.csv`` (or
``metadata.csv``) at or up to two folders above a dataset only adds patient groups and
per-image columns to files another layout found. Both read their columns by the rules here, so
a CSV with both a ``group`` and a ``patient_id`` column means the same thing wherever it is.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from xraycls._outputs import csv_uncell

#: File names (lower case) of the manifests found at or above a dataset.
MANIFEST_NAMES = ("manifest.csv", "metadata.csv")
#: Columns naming the image file of a manifest row, in priority order.
FILE_COLUMNS = ("file", "path", "filename")
#: Columns naming the patient group, in priority order: ``group`` (what ``Dataset.to_csv``
#: writes) before ``patient_id`` (what dataset manifests write).
GROUP_COLUMNS = ("group", "patient_id", "patient", "patientid")
#: Columns that are :class:`~xraycls.data.Dataset` fields, never per-image meta columns.
RESERVED = frozenset({"label", "origin", *GROUP_COLUMNS})

Columns = dict[str, dict[str, str]]  # column -> absolute normalised file path -> value


class UncelledReader(csv.DictReader):
    """A ``DictReader`` whose header and cells have the formula escaping undone.

    xraycls escapes cells that a spreadsheet would run as formulas
    (:func:`xraycls._outputs.csv_cell`); reading them back undoes that.
    """

    def __next__(self) -> dict[str, str]:
        row = super().__next__()
        # keys come from the (already undone) fieldnames below
        return {k: csv_uncell(v) if isinstance(v, str) else v for k, v in row.items()}

    @property
    def fieldnames(self) -> list[str] | None:  # type: ignore[override]
        names = super().fieldnames
        return None if names is None else [csv_uncell(n) for n in names]


def header_columns(fieldnames: Iterable[str | None] | None) -> dict[str, str]:
    """Lower-case, stripped column name -> the name as the header spells it."""
    return {(c or "").strip().lower(): c for c in fieldnames or [] if c is not None}


def first_column(cols: Mapping[str, str], names: Iterable[str]) -> str | None:
    """The header spelling of the first of ``names`` (lower case) the header has."""
    return next((cols[c] for c in names if c in cols), None)


def group_column(cols: Mapping[str, str]) -> str | None:
    """The patient-group column of a header (see :data:`GROUP_COLUMNS`), or ``None``."""
    return first_column(cols, GROUP_COLUMNS)


def cell(row: Mapping[str, str | None], column: str | None) -> str:
    """The stripped value of ``column`` in ``row``; ``""`` when absent or empty."""
    if column is None:
        return ""
    return (row.get(column) or "").strip()


def meta_cells(row: Mapping[str, object], skip: Iterable[str]) -> Iterator[tuple[str, str]]:
    """``(column, value)`` for every non-empty cell of ``row`` whose column is per-image meta.

    ``skip`` holds the lower-case names of the columns that are not (file, label, group...).
    """
    skipped = set(skip)
    for column, value in row.items():
        key = (column or "").strip()
        if key and key.lower() not in skipped and isinstance(value, str) and value.strip():
            yield key, value.strip()


@dataclass
class Manifest:
    """What a ``MANIFEST.csv`` says about the files it names (absolute, normalised paths)."""

    path: Path
    groups: dict[str, str] = field(default_factory=dict)  # file -> patient group
    columns: Columns = field(default_factory=dict)  # column -> file -> value

    def names_any(self, files: Iterable[str]) -> bool:
        """Whether any per-image column covers one of ``files``."""
        wanted = set(files)
        return any(wanted.intersection(values) for values in self.columns.values())


def load_manifest(path: Path) -> Manifest:
    """The patient groups and per-image columns of a manifest; empty when it cannot be read.

    Rows are keyed by their file column (:data:`FILE_COLUMNS`) resolved against the manifest's
    folder; a manifest without one says nothing.
    """
    out = Manifest(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = UncelledReader(fh)
            cols = header_columns(reader.fieldnames)
            fcol, gcol = first_column(cols, FILE_COLUMNS), group_column(cols)
            if fcol is None:
                return out
            skip = RESERVED | set(FILE_COLUMNS)
            for row in reader:
                rel = cell(row, fcol)
                if not rel:
                    continue
                full = os.path.normpath(os.path.join(path.parent, rel))
                if group := cell(row, gcol):
                    out.groups[full] = group
                for key, value in meta_cells(row, skip):
                    out.columns.setdefault(key, {})[full] = value
    except (OSError, UnicodeDecodeError, csv.Error):
        return Manifest(path)
    return out


def manifests_above(root: Path, levels: int = 2) -> Iterator[Manifest]:
    """Every manifest at ``root`` or up to ``levels`` folders above it, nearest first."""
    folder = root if root.is_dir() else root.parent
    for _ in range(levels + 1):
        for entry in sorted(folder.glob("*.csv")):
            if entry.name.lower() in MANIFEST_NAMES:
                yield load_manifest(entry)
        if folder.parent == folder:
            break
        folder = folder.parent
