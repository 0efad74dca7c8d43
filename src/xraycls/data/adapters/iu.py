"""Indiana University chest X-rays (``iu-xray``): OpenI ``ecgen-radiology/*.xml`` reports.

A report's findings are its MeSH ``major`` terms (``normal`` for a normal study;
``Calcified Granuloma/lung/upper lobe/right``...); every ``parentImage`` of the report
(``CXR1_1_IM-0001-3001``) is an image file of that name (``.png``, found anywhere below the
dataset folder, e.g. ``NLMCXR_png/``). The report id (``CXR1``) is the patient group. The
reports give no age, sex or view (frontal and lateral images are both listed).
"""

from __future__ import annotations

import os
from pathlib import Path
from xml.etree import ElementTree

from xraycls.data._listing import Listing
from xraycls.data.adapters._common import image_index

NAME = "iu-xray"
MAX_XML_BYTES = 2_000_000


def _reports(root: Path) -> Path | None:
    for folder in (root / "ecgen-radiology", root):
        if folder.is_dir() and any(folder.glob("*.xml")):
            if folder == root and not (root / "ecgen-radiology").is_dir():
                head = next(iter(sorted(folder.glob("*.xml")))).read_bytes()[:2048]
                if b"<eCitation" not in head:
                    return None
            return folder
    return None


def detect(root: Path) -> bool:
    return _reports(root) is not None


def list_files(root: Path) -> Listing:
    folder = _reports(root)
    assert folder is not None
    out = Listing(NAME, root)
    index = {os.path.splitext(k)[0]: v for k, v in image_index([root], recursive=True).items()}
    for path in sorted(folder.glob("*.xml"), key=lambda p: (len(p.stem), p.stem)):
        if path.stat().st_size > MAX_XML_BYTES:
            out.problems.append((str(path), f"report larger than {MAX_XML_BYTES} bytes"))
            continue
        try:
            tree = ElementTree.parse(path)
        except (ElementTree.ParseError, OSError) as exc:
            out.problems.append((str(path), f"not a readable XML report: {exc}"))
            continue
        doc = tree.getroot()
        uid = doc.find("uId")
        report = uid.get("id") if uid is not None and uid.get("id") else path.stem
        majors = tuple(
            dict.fromkeys(
                (m.text or "").strip() for m in doc.iter("major") if (m.text or "").strip()
            )
        )
        raw = "|".join(majors)
        for image in doc.iter("parentImage"):
            image_id = image.get("id") or ""
            file = index.get(image_id)
            if file is None:
                out.problems.append(
                    (str(root / f"{image_id}.png"), f"named in {path.name} but not found")
                )
                continue
            out.add(
                file, raw, group=report, findings=majors, finding=raw, source=NAME, report=report
            )
    return out
