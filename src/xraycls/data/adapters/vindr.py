"""VinDr-CXR (``vindr-cxr``): ``train.csv`` of the VinBigData challenge, one row per finding.

Rows ``image_id,class_name,class_id,rad_id,x_min,...``: each radiologist (``rad_id``) gives
``No finding`` or one row per finding. An image's findings are every radiologist's findings;
with the multi-label rule, it is normal only when every radiologist said ``No finding``.
Images ``train/<image_id>.dicom`` (age, sex and view from the header) or ``.png``. VinDr has no
patient ids: each image is its own group.
"""

from __future__ import annotations

from pathlib import Path

from xraycls.data._listing import Listing
from xraycls.data.adapters._common import dicom_meta, has_columns, image_index, read_rows

NAME = "vindr-cxr"
REQUIRED = ("image_id", "class_name", "rad_id")
_SUFFIXES = (".dicom", ".dcm", ".png", ".jpg")


def detect(root: Path) -> bool:
    return has_columns(root / "train.csv", REQUIRED)


def list_files(root: Path) -> Listing:
    path = root / "train.csv"
    out = Listing(NAME, root)
    found: dict[str, dict[str, None]] = {}
    for lineno, row in read_rows(path, REQUIRED):
        image, cls = row["image_id"], row["class_name"]
        if not image or not cls:
            out.problems.append((f"{path}:{lineno}", "row without an image_id or a class_name"))
            continue
        found.setdefault(image, {})[cls] = None
    index = image_index([root / "train", root / "train_png", root])
    for image, classes in found.items():
        file = next((index[image + s] for s in _SUFFIXES if image + s in index), None)
        if file is None:
            out.problems.append(
                (str(root / "train" / f"{image}.dicom"), f"listed in {path.name} but not found")
            )
            continue
        findings = tuple(sorted(classes))
        header = dicom_meta(file, out.problems)
        if header is None:
            continue
        raw = "|".join(findings)
        out.add(
            file,
            raw,
            group=image,
            findings=findings,
            finding=raw,
            source=NAME,
            age=header.get("age"),
            sex=header.get("sex"),
            view=header.get("view"),
        )
    return out
