"""Per-image columns (source, view, sex...): from the data's CSV or a ``MANIFEST.csv`` above it."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

from xraycls.data._columns import SOURCE, UNKNOWN
from xraycls.errors import ConfigError

#: Columns read as the image's source when ``source_column=`` is not given, in this order.
SOURCE_COLUMNS = ("source", "source_repo")
_MANIFEST_NAMES = ("manifest.csv", "metadata.csv")
_FILE_COLUMNS = ("file", "path", "filename")
# Columns that are already Dataset fields (file, label, patient group, synthetic origin).
_NOT_META = {"label", "origin", "group", "patient_id", "patient", "patientid", *_FILE_COLUMNS}

Columns = dict[str, dict[str, str]]  # column -> absolute normalised file path -> value


def read_manifest_columns(path: Path) -> Columns:
    """Every per-image column of a manifest CSV, keyed by file path relative to the CSV."""
    out: Columns = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            cols = {(c or "").strip().lower(): c for c in reader.fieldnames or []}
            fcol = next((cols[c] for c in _FILE_COLUMNS if c in cols), None)
            if fcol is None:
                return {}
            for row in reader:
                rel = (row.get(fcol) or "").strip()
                if not rel:
                    continue
                full = os.path.normpath(os.path.join(path.parent, rel))
                for column, value in row.items():
                    key = (column or "").strip()
                    if key and key.lower() not in _NOT_META and (value or "").strip():
                        out.setdefault(key, {})[full] = str(value).strip()
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    return out


def find_manifest_columns(
    root: Path, files: Sequence[str], levels: int = 2
) -> tuple[Path, Columns]:
    """The nearest manifest at or up to ``levels`` above ``root`` naming any of ``files``.

    Returns its path and columns; ``(root, {})`` when there is none.
    """
    folder = root if root.is_dir() else root.parent
    wanted = set(files)
    for _ in range(levels + 1):
        for entry in sorted(folder.glob("*.csv")):
            if entry.name.lower() not in _MANIFEST_NAMES:
                continue
            columns = read_manifest_columns(entry)
            if any(wanted.intersection(values) for values in columns.values()):
                return entry, columns
        if folder.parent == folder:
            break
        folder = folder.parent
    return root, {}


def assign_meta(
    files: Sequence[str], known: Columns, root: Path, source_column: str | None = None
) -> tuple[dict[str, tuple[str, ...]], str | None]:
    """Per-image columns for ``files`` and a sentence saying where they came from.

    Columns of the data's own CSV (``known``) come first; a ``MANIFEST.csv`` at or above
    ``root`` fills what they leave open. The source column (``source_column``, else the first
    of :data:`SOURCE_COLUMNS` found) becomes ``"source"``. A file a column does not cover gets
    ``"unknown"``.

    Raises:
        ConfigError: ``source_column`` is given but neither the CSV nor a manifest has it.
    """
    columns: Columns = {k: dict(v) for k, v in known.items()}
    where: list[str] = []
    if known:
        where.append("the CSV's columns")
    manifest, extra = find_manifest_columns(root, files)
    used_manifest = False
    for name, values in extra.items():
        target = columns.setdefault(name, {})
        for f in files:
            if f not in target and f in values:
                target[f] = values[f]
                used_manifest = True
    if used_manifest:
        where.append(str(manifest))
    lower = {name.lower(): name for name in columns}
    if source_column is not None:
        picked = lower.get(source_column.strip().lower())
        if picked is None:
            raise ConfigError(
                f"source_column={source_column!r}: no such column in the data's CSV or a "
                f"MANIFEST.csv at or above {root}; columns found: {sorted(columns) or 'none'}"
            )
    else:
        picked = next((lower[c] for c in SOURCE_COLUMNS if c in lower), None)
    if picked is not None and picked != SOURCE:
        # The chosen column replaces a 'source' column the data may also have.
        columns[SOURCE] = columns.pop(picked)
    meta = {
        name: tuple(values.get(f, UNKNOWN) for f in files)
        for name, values in columns.items()
        if any(f in values for f in files)
    }
    return meta, ("; ".join(where) if meta else None)
