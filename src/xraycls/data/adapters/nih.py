"""NIH ChestX-ray14 (``nih-cxr14``): ``Data_Entry_2017*.csv`` or ``sample_labels.csv``.

Images under ``images/``, ``images_0NN/images/`` (the Kaggle and Box downloads) or
``sample/images/``. ``Finding Labels`` is multi-label (``Pneumonia|Infiltration``); ages are
``58`` (v2020) or ``058Y`` (2017). Patient groups ``nih:<8-digit patient id>``, the ids that
``cxr-adult``'s manifest uses, so the same patient matches across datasets.
"""

from __future__ import annotations

import os
from pathlib import Path

from xraycls.data._listing import Listing
from xraycls.data.adapters._common import age_years, find_first, image_index, read_rows, sex_code

NAME = "nih-cxr14"
CSV_NAMES = ("Data_Entry_2017_v2020.csv", "Data_Entry_2017.csv", "sample_labels.csv")


def detect(root: Path) -> bool:
    return find_first(root, CSV_NAMES) is not None


def _folders(root: Path) -> list[Path]:
    out = [root / "images", root / "sample" / "images", root / "sample"]
    if root.is_dir():
        for entry in sorted(os.scandir(root), key=lambda e: e.name):
            if entry.name.startswith("images_") and entry.is_dir():
                out += [Path(entry.path) / "images", Path(entry.path)]
    return [*out, root]


def list_files(root: Path) -> Listing:
    path = find_first(root, CSV_NAMES)
    assert path is not None
    out = Listing(NAME, root)
    index = image_index(_folders(root))
    required = ("Image Index", "Finding Labels", "Patient ID")
    for lineno, row in read_rows(path, required):
        name, raw, pid = row["Image Index"], row["Finding Labels"], row["Patient ID"]
        if not name or not raw:
            out.problems.append((f"{path}:{lineno}", "row without an image name or a label"))
            continue
        file = index.get(name)
        if file is None:
            out.problems.append(
                (str(root / "images" / name), f"listed in {path.name}:{lineno} but not found")
            )
            continue
        group = f"nih:{int(pid):08d}" if pid.isdigit() else (f"nih:{pid}" if pid else None)
        out.add(
            file,
            raw,
            group=group,
            findings=tuple(f.strip() for f in raw.split("|") if f.strip()),
            age=age_years(row.get("Patient Age")),
            sex=sex_code(row.get("Patient Gender")),
            view=(row.get("View Position") or "").upper() or None,
            finding=raw,
            source=NAME,
        )
    return out
