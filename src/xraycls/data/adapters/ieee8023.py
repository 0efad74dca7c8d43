"""ieee8023 COVID-19 image data collection (``ieee8023``): ``metadata.csv`` + ``images/``.

``finding`` is ``COVID-19``, ``SARS``... (2020 releases; several joined by ``,``) or a path
such as ``Pneumonia/Viral/COVID-19`` (later releases). Images at ``<folder>/<filename>``
(``images/``). Rows whose ``modality`` is not X-ray (CT) are left out and counted.
"""

from __future__ import annotations

import os
from pathlib import Path

from xraycls.data._listing import Listing
from xraycls.data.adapters._common import age_years, has_columns, read_rows, sex_code

NAME = "ieee8023"
REQUIRED = ("patientid", "finding", "filename")


def detect(root: Path) -> bool:
    return has_columns(root / "metadata.csv", REQUIRED)


def list_files(root: Path) -> Listing:
    path = root / "metadata.csv"
    out = Listing(NAME, root)
    for lineno, row in read_rows(path, REQUIRED):
        raw, name = row["finding"], row["filename"]
        if not name or not raw:
            out.problems.append((f"{path}:{lineno}", "row without a filename or a finding"))
            continue
        modality = row.get("modality", "")
        if modality and modality.replace("-", "").lower() != "xray":
            out.drop(f"modality {modality}")
            continue
        file = os.path.normpath(os.path.join(root, row.get("folder") or "images", name))
        pid = row["patientid"]
        findings = (
            tuple(f.strip() for f in raw.split(",") if f.strip()) if "/" not in raw else (raw,)
        )
        out.add(
            file,
            raw,
            group=pid or None,
            findings=findings,
            age=age_years(row.get("age")),
            sex=sex_code(row.get("sex")),
            view=(row.get("view") or "").upper() or None,
            finding=raw,
            source=NAME,
        )
    return out
