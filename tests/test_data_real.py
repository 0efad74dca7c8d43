"""Integration on the real test images beside the repo (../shared/data); skipped when absent."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import xraycls
from xraycls.io import load_image

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def cxr3(cxr3_dir: Path) -> xraycls.Dataset:
    return xraycls.load_dataset(cxr3_dir)


def test_cxr3_layout_counts_groups(cxr3: xraycls.Dataset, cxr3_dir: Path) -> None:
    assert cxr3.report is not None and cxr3.report.layout == "kaggle-v1"
    assert cxr3.report.ok
    assert cxr3.class_names == ("COVID", "Normal", "Viral Pneumonia")
    assert cxr3.counts() == {"COVID": 244, "Normal": 403, "Viral Pneumonia": 394}
    with open(cxr3_dir / "MANIFEST.csv", newline="") as fh:
        manifest = {str(cxr3_dir / r["file"]): r["patient_id"] for r in csv.DictReader(fh)}
    assert cxr3.groups == tuple(manifest[f] for f in cxr3.files)
    assert len(set(cxr3.groups)) == 69 + 94 + 390 + 350
    assert cxr3.report.seconds < 10


def test_cxr3_split_is_group_safe_and_stratified(cxr3: xraycls.Dataset) -> None:
    train, val, test = cxr3.split(test=0.2, val=0.2, seed=0, dedupe=False)
    assert len(train) + len(val) + len(test) == 1041
    sets = [set(p.groups or ()) for p in (train, val, test)]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    for part, frac in ((test, 0.2), (val, 0.16), (train, 0.64)):
        for name, n in cxr3.counts().items():
            assert abs(part.counts()[name] - n * frac) <= 3, (name, part.counts())


def test_cxr3_has_no_duplicate_clusters(cxr3: xraycls.Dataset) -> None:
    # The data README: all sha256 unique, largest pairwise high-pass correlation 0.78.
    assert xraycls.find_duplicates(cxr3) == []


def test_cxr3_fullsize_all_formats(cxr3_fullsize_dir: Path) -> None:
    ds = xraycls.load_dataset(cxr3_fullsize_dir, verify="full")
    assert ds.report is not None and ds.report.ok
    assert ds.counts() == {"COVID": 12, "Normal": 12, "Viral Pneumonia": 12}
    assert ds.groups is not None and ds.groups[-1].startswith("kermany-train:person")
    suffixes = {Path(f).suffix for f in ds.files}
    assert suffixes == {".png", ".jpg", ".jpeg"}
    for f in ds.files:
        img = load_image(f)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        assert min(img.shape[:2]) >= 300
    rgba = load_image(cxr3_fullsize_dir / "COVID" / "866.png")
    assert rgba.shape == (701, 865, 3)
