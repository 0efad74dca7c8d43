"""Per-image columns (source, view, sex...): from the data's CSV or a ``MANIFEST.csv`` above it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from xraycls.data._columns import SOURCE, UNKNOWN
from xraycls.data._manifest import Columns, manifests_above
from xraycls.errors import ConfigError

#: Columns read as the image's source when ``source_column=`` is not given, in this order.
SOURCE_COLUMNS = ("source", "source_repo")


def find_manifest_columns(
    root: Path, files: Sequence[str], levels: int = 2
) -> tuple[Path, Columns]:
    """The nearest manifest at or up to ``levels`` above ``root`` naming any of ``files``.

    Returns its path and columns; ``(root, {})`` when there is none.
    """
    for manifest in manifests_above(root, levels):
        if manifest.names_any(files):
            return manifest.path, manifest.columns
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
    if _fill(columns, extra, files):
        where.append(str(manifest))
    picked = _source_of(columns, source_column, root)
    if picked is not None and picked != SOURCE:
        # The chosen column replaces a 'source' column the data may also have.
        columns[SOURCE] = columns.pop(picked)
    meta = {
        name: tuple(values.get(f, UNKNOWN) for f in files)
        for name, values in columns.items()
        if any(f in values for f in files)
    }
    return meta, ("; ".join(where) if meta else None)


def _fill(columns: Columns, extra: Columns, files: Sequence[str]) -> bool:
    """Add ``extra``'s values for ``files`` where ``columns`` has none; whether any was."""
    used = False
    for name, values in extra.items():
        target = columns.setdefault(name, {})
        for f in files:
            if f not in target and f in values:
                target[f] = values[f]
                used = True
    return used


def _source_of(columns: Columns, source_column: str | None, root: Path) -> str | None:
    """The column naming each image's source: ``source_column`` or a :data:`SOURCE_COLUMNS`."""
    lower = {name.lower(): name for name in columns}
    if source_column is None:
        return next((lower[c] for c in SOURCE_COLUMNS if c in lower), None)
    picked = lower.get(source_column.strip().lower())
    if picked is None:
        raise ConfigError(
            f"source_column={source_column!r}: no such column in the data's CSV or a "
            f"MANIFEST.csv at or above {root}; columns found: {sorted(columns) or 'none'}"
        )
    return picked
