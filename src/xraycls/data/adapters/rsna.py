"""RSNA Pneumonia Detection Challenge (``rsna-pneumonia``).

``stage_2_detailed_class_info.csv`` (``patientId,class``; ``Normal``, ``Lung Opacity`` or
``No Lung Opacity / Not Normal``) and ``stage_2_train_labels.csv`` (one row per box, or one
row with ``Target`` 0); several rows of a patient are one image, ``<patientId>.dcm`` under
``stage_2_train_images/``. Age, sex and view come from the DICOM header (pydicom, the
``dicom`` extra; pixels are not read). Each image is its own patient (RSNA's ids are per
image).
"""

from __future__ import annotations

from pathlib import Path

from xraycls.data._listing import Listing
from xraycls.data.adapters._common import dicom_meta, find_first, image_index, read_rows

NAME = "rsna-pneumonia"
CLASS_INFO = ("stage_2_detailed_class_info.csv", "stage_1_detailed_class_info.csv")
LABELS = ("stage_2_train_labels.csv", "stage_1_train_labels.csv")


def detect(root: Path) -> bool:
    return find_first(root, CLASS_INFO + LABELS) is not None


def list_files(root: Path) -> Listing:
    from xraycls.errors import DatasetLayoutError

    info = find_first(root, CLASS_INFO)
    if info is None:
        raise DatasetLayoutError(
            f"{root}: the RSNA layout needs {CLASS_INFO[0]} (the class of each image: Normal, "
            "Lung Opacity, No Lung Opacity / Not Normal); only the box file was found"
        )
    out = Listing(NAME, root)
    classes: dict[str, str] = {}
    rows: dict[str, int] = {}
    for lineno, row in read_rows(info, ("patientId", "class")):
        pid, cls = row["patientId"], row["class"]
        if not pid or not cls:
            out.problems.append((f"{info}:{lineno}", "row without a patientId or a class"))
            continue
        if pid in classes and classes[pid] != cls:
            out.problems.append(
                (f"{info}:{lineno}", f"{pid}: class {cls!r} but {classes[pid]!r} earlier")
            )
            continue
        classes[pid] = cls
        rows[pid] = rows.get(pid, 0) + 1
    boxes: dict[str, int] = {}
    labels = find_first(root, LABELS)
    if labels is not None:
        for _lineno, row in read_rows(labels, ("patientId", "Target")):
            if row["Target"] in ("1", "1.0"):
                boxes[row["patientId"]] = boxes.get(row["patientId"], 0) + 1
    folders = [root / "stage_2_train_images", root / "stage_1_train_images", root]
    index = image_index(folders)
    for pid, cls in classes.items():
        file = index.get(f"{pid}.dcm") or index.get(f"{pid}.png")
        if file is None:
            out.problems.append(
                (str(folders[0] / f"{pid}.dcm"), f"listed in {info.name} but not found")
            )
            continue
        header = dicom_meta(file, out.problems)
        if header is None:
            continue
        out.add(
            file,
            cls,
            group=pid,
            findings=(cls,),
            finding=cls,
            source=NAME,
            boxes=str(boxes.get(pid, 0)),
            age=header.get("age"),
            sex=header.get("sex"),
            view=header.get("view"),
        )
    return out
