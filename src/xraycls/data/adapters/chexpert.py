"""CheXpert (``chexpert``): ``train.csv`` / ``valid.csv`` of ``CheXpert-v1.0(-small)/``.

``Path`` is relative to the folder above ``CheXpert-v1.0-small/``; ``Frontal/Lateral`` and
``AP/PA`` give the view; 14 finding columns hold ``1.0`` (positive), ``0.0`` (negative),
``-1.0`` (uncertain) or nothing (not mentioned). The positive findings are the row's
findings, the uncertain ones go to the label map's ``uncertain`` policy (default: drop the
row when an uncertain finding would decide its class). Lateral views are left out and counted
(``lateral view``). Patient groups from the ``patientNNNNN`` path segment.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from xraycls.data._listing import Listing
from xraycls.data.adapters._common import age_years, csv_header, has_columns, read_rows, sex_code

NAME = "chexpert"
CSV_NAMES = ("train.csv", "valid.csv")
_NOT_FINDINGS = {"Path", "Sex", "Age", "Frontal/Lateral", "AP/PA"}
_PATIENT = re.compile(r"(patient\d+)")


def _csvs(root: Path) -> list[Path]:
    folders = [root]
    if root.is_dir():
        folders += sorted(p for p in root.glob("CheXpert-v1.0*") if p.is_dir())
    for folder in folders:
        found = [
            folder / n for n in CSV_NAMES if has_columns(folder / n, ("Path", "Frontal/Lateral"))
        ]
        if found:
            return found
    return []


def detect(root: Path) -> bool:
    return bool(_csvs(root))


def list_files(root: Path) -> Listing:
    out = Listing(NAME, root)
    for path in _csvs(root):
        folder = path.parent
        findings = [c for c in csv_header(path) if c and c not in _NOT_FINDINGS]
        for lineno, row in read_rows(path, ("Path", "Frontal/Lateral")):
            rel = row["Path"].replace("\\", "/")
            if not rel:
                out.problems.append((f"{path}:{lineno}", "row without a Path"))
                continue
            first = rel.split("/", 1)[0]
            base = folder.parent if first == folder.name else folder
            file = os.path.normpath(os.path.join(base, rel))
            if row["Frontal/Lateral"].strip().lower() == "lateral":
                out.drop("lateral view")
                continue
            positive: list[str] = []
            unsure: list[str] = []
            bad = False
            for name in findings:
                value = row.get(name, "")
                try:
                    number = float(value) if value else None
                except ValueError:
                    out.problems.append(
                        (f"{path}:{lineno}", f"column {name!r}: {value!r} is not 1.0/0.0/-1.0")
                    )
                    bad = True
                    break
                if number == 1.0:
                    positive.append(name)
                elif number == -1.0:
                    unsure.append(name)
            if bad:
                continue
            m = _PATIENT.search(rel)
            out.add(
                file,
                "|".join(positive),
                group=m.group(1) if m else None,
                findings=tuple(positive),
                uncertain=tuple(unsure),
                age=age_years(row.get("Age")),
                sex=sex_code(row.get("Sex")),
                view=(row.get("AP/PA") or "").upper() or None,
                finding="|".join(positive + [f"{u} (uncertain)" for u in unsure]),
                source=NAME,
            )
    return out
