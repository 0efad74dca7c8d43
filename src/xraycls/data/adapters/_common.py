"""What every adapter needs: strict CSV reading, image lookup, age/sex/view normalisation."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from xraycls.errors import DatasetLayoutError, DependencyError

__all__ = [
    "age_years",
    "csv_header",
    "dicom_header",
    "dicom_meta",
    "find_first",
    "has_columns",
    "image_index",
    "import_pydicom",
    "read_rows",
    "sex_code",
]

_DICOM_HINT = 'reading DICOM headers needs pydicom: pip install "xraycls[dicom]"'
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".dicom", ".tif", ".tiff", ".bmp", ".webp")


def find_first(root: Path, names: Sequence[str]) -> Path | None:
    """The first of ``names`` that is a file in ``root`` (``None`` when none is)."""
    if not root.is_dir():
        return None
    for name in names:
        path = root / name
        if path.is_file():
            return path
    return None


def csv_header(path: Path) -> list[str]:
    """The stripped column names of a CSV file (``[]`` when it cannot be read)."""
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
            return [h.strip() for h in next(csv.reader(fh), [])]
    except (OSError, csv.Error):
        return []


def has_columns(path: Path, required: Iterable[str]) -> bool:
    """Whether ``path`` is a CSV file whose header has every column of ``required``."""
    return path.is_file() and set(required) <= set(csv_header(path))


def read_rows(path: Path, required: Iterable[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, row)`` for every row of a CSV, values stripped.

    Raises:
        DatasetLayoutError: The file cannot be read, a required column is missing, or a line is
            malformed; the message names the file and the line.
    """
    lineno = 1
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
            reader = csv.reader(fh, strict=True)
            header = [h.strip() for h in next(reader, [])]
            missing = [c for c in required if c not in header]
            if missing:
                raise DatasetLayoutError(
                    f"{path}:1: missing column(s) {missing}; the header has {header}"
                )
            for lineno, values in enumerate(reader, start=2):
                if not any(v.strip() for v in values):
                    continue
                if len(values) > len(header):
                    raise DatasetLayoutError(
                        f"{path}:{lineno}: {len(values)} fields for {len(header)} columns"
                    )
                row = {
                    h: (values[i].strip() if i < len(values) else "") for i, h in enumerate(header)
                }
                yield lineno, row
    except OSError as exc:
        raise DatasetLayoutError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except csv.Error as exc:
        raise DatasetLayoutError(f"{path}:{lineno + 1}: malformed CSV: {exc}") from None


def image_index(folders: Iterable[Path], recursive: bool = False) -> dict[str, str]:
    """File name -> path of every image file in ``folders`` (the first folder wins)."""
    out: dict[str, str] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        if recursive:
            walker: Iterable[tuple[str, list[str], list[str]]] = os.walk(folder)
        else:
            walker = [(str(folder), [], [e.name for e in os.scandir(folder)])]
        for dirpath, dirnames, filenames in walker:
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.lower().endswith(_IMAGE_SUFFIXES) and not name.startswith("."):
                    out.setdefault(name, os.path.normpath(os.path.join(dirpath, name)))
    return out


_AGE = re.compile(r"^\s*(\d{1,3}(?:\.\d+)?)\s*([YMWD]?)\s*$", re.IGNORECASE)
_PER_YEAR = {"": 1.0, "Y": 1.0, "M": 12.0, "W": 52.0, "D": 365.0}


def age_years(text: Any) -> str | None:
    """An age as a number string in years: ``"058Y"`` -> ``"58"``, ``"006M"`` -> ``"0.5"``.

    ``None`` for anything that is not an age (empty, ``nan``, over 130).

    Examples:
        >>> age_years("058Y"), age_years("58"), age_years("38.0"), age_years("018M"), age_years("x")
        ('58', '58', '38', '1.5', None)
    """
    m = _AGE.match(str(text or ""))
    if not m:
        return None
    years = float(m.group(1)) / _PER_YEAR[m.group(2).upper()]
    if years > 130:
        return None
    return f"{years:.1f}".rstrip("0").rstrip(".") if years != int(years) else str(int(years))


def sex_code(text: Any) -> str | None:
    """``M``/``F`` from ``M``, ``Male``, ``f``, ``Female``...; ``None`` otherwise."""
    value = str(text or "").strip().upper()
    if value in ("M", "MALE"):
        return "M"
    if value in ("F", "FEMALE"):
        return "F"
    return None


def import_pydicom() -> Any:
    """``pydicom``, or a :class:`DependencyError` naming the ``dicom`` extra."""
    try:
        import pydicom
    except ImportError:
        raise DependencyError(_DICOM_HINT) from None
    return pydicom


def dicom_header(path: str) -> dict[str, str | None]:
    """``age``, ``sex`` and ``view`` from a DICOM header (pixels are not read).

    Raises:
        DatasetLayoutError: The file is not a readable DICOM file.
    """
    pydicom = import_pydicom()
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as exc:  # pydicom raises many kinds for bad files
        raise DatasetLayoutError(f"{path}: cannot read the DICOM header: {exc}") from None
    view = str(getattr(ds, "ViewPosition", "") or "").strip().upper() or None
    return {
        "age": age_years(getattr(ds, "PatientAge", None)),
        "sex": sex_code(getattr(ds, "PatientSex", None)),
        "view": view,
    }


def dicom_meta(file: str, problems: list[tuple[str, str]]) -> dict[str, str | None] | None:
    """:func:`dicom_header` for DICOM files (``{}`` for others); ``None`` and a problem entry
    when the header cannot be read, so ``on_error="skip"`` leaves only that file out."""
    if not file.lower().endswith((".dcm", ".dicom")):
        return {}
    try:
        return dicom_header(file)
    except DatasetLayoutError as exc:
        problems.append((file, str(exc).removeprefix(f"{file}: ")))
        return None
