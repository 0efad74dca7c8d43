"""PadChest (``padchest``): ``PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv``.

Columns ``ImageID``, ``ImageDir`` (the numbered image folder), ``Labels`` (a Python-list
string such as ``['normal']``, parsed with :func:`ast.literal_eval` on at most 4096
characters), ``PatientBirth`` (year; the age is the study year minus it),
``PatientSex_DICOM``, ``Projection`` and ``Pediatric``. The first, unnamed index column may be
there or not. Lateral projections (``L``) are left out and counted (``lateral view``).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

from xraycls.data._listing import Listing
from xraycls.data.adapters._common import has_columns, image_index, read_rows, sex_code
from xraycls.errors import DatasetLayoutError

NAME = "padchest"
REQUIRED = ("ImageID", "ImageDir", "Labels")
MAX_LABELS_CHARS = 4096


def _csv(root: Path) -> Path | None:
    if not root.is_dir():
        return None
    for path in sorted(root.glob("*.csv")):
        if has_columns(path, REQUIRED):
            return path
    return None


def detect(root: Path) -> bool:
    return _csv(root) is not None


def parse_labels(text: str, where: str) -> tuple[str, ...]:
    """The findings of a ``Labels`` cell (``"['normal']"`` -> ``('normal',)``).

    Raises:
        DatasetLayoutError: Not a list of strings, or longer than ``MAX_LABELS_CHARS``.
    """
    if len(text) > MAX_LABELS_CHARS:
        raise DatasetLayoutError(
            f"{where}: Labels is {len(text)} characters long (limit {MAX_LABELS_CHARS})"
        )
    try:
        value = ast.literal_eval(text) if text.strip() else []
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise DatasetLayoutError(
            f"{where}: Labels {text[:80]!r} is not a Python list of strings"
        ) from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DatasetLayoutError(f"{where}: Labels {text[:80]!r} is not a Python list of strings")
    return tuple(dict.fromkeys(v.strip() for v in value if v.strip()))


def _age(birth: str, study_date: str) -> str | None:
    try:
        year = int(float(birth))
        study = int(study_date[:4])
    except (ValueError, TypeError):
        return None
    age = study - year
    return str(age) if 0 <= age <= 130 else None


def list_files(root: Path) -> Listing:
    path = _csv(root)
    assert path is not None
    out = Listing(NAME, root)
    index: dict[str, str] | None = None
    for lineno, row in read_rows(path, REQUIRED):
        name, folder = row["ImageID"], row["ImageDir"]
        if not name:
            out.problems.append((f"{path}:{lineno}", "row without an ImageID"))
            continue
        findings = parse_labels(row["Labels"], f"{path}:{lineno}")
        projection = (row.get("Projection") or "").upper()
        if projection in ("L", "LATERAL"):
            out.drop("lateral view")
            continue
        folder = folder.split(".")[0] if folder.replace(".", "", 1).isdigit() else folder
        file = os.path.normpath(os.path.join(root, folder, name))
        if not os.path.isfile(file):
            if index is None:
                index = image_index([root, root / "images"], recursive=False)
            if name not in index:
                out.problems.append((file, f"listed in {path.name}:{lineno} but not found"))
                continue
            file = index[name]
        out.add(
            file,
            "|".join(findings),
            group=row.get("PatientID") or None,
            findings=findings,
            age=_age(row.get("PatientBirth", ""), row.get("StudyDate_DICOM", "")),
            sex=sex_code(row.get("PatientSex_DICOM")),
            view=projection or None,
            pediatric=row.get("Pediatric") or None,
            finding=row["Labels"],
            source=NAME,
        )
    return out
