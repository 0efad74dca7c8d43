"""merge, DataSpec, load_sources and label_map= on plain folder layouts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import xraycls
from _helpers_data import make_tree
from conftest import SHARED_DATA
from xraycls.data import Dataset, DataSpec, LabelMap, load_dataset, load_sources, merge
from xraycls.errors import ConfigError

CXR_ADULT = SHARED_DATA / "cxr-adult"
CLASSES = ["COVID", "Normal", "Viral Pneumonia"]


def _ds(prefix: str, labels: list[int], classes: tuple[str, ...], groups=None, **meta):
    files = tuple(f"/{prefix}/{i}.png" for i in range(len(labels)))
    return Dataset(files, np.array(labels), classes, groups=groups, root=f"/{prefix}", meta=meta)


def test_public_names() -> None:
    assert xraycls.merge is merge
    assert xraycls.DataSpec is DataSpec
    assert xraycls.load_sources is load_sources
    assert xraycls.LabelMap is LabelMap


def test_merge_classes_sources_groups_and_dataset_column() -> None:
    a = _ds(
        "a", [0, 1, 1], ("COVID", "Normal"), groups=("1", "2", "2"), source=("s1", "unknown", "s1")
    )
    b = _ds("b", [0, 1], ("Normal", "Lung_Opacity"), groups=("1", "kermany:person3"))
    m = merge([a, b])
    assert m.class_names == ("COVID", "Normal", "Lung_Opacity")
    assert [m.class_names[k] for k in m.labels] == [
        "COVID",
        "Normal",
        "Normal",
        "Normal",
        "Lung_Opacity",
    ]
    # default names: the root folder names; patient 1 of a is not patient 1 of b
    assert m.groups == ("a:1", "a:2", "a:2", "b:1", "kermany:person3")
    assert m.sources == ("s1", "a", "s1", "b", "b")
    assert m.meta["dataset"] == ("a", "a", "a", "b", "b")
    assert m.report is not None and m.report.counts == m.counts()


def test_merge_keeps_namespaced_patients_together_and_rejects_shared_files() -> None:
    a = _ds("a", [0, 0], ("COVID",), groups=("nih:00000001", "x"))
    b = _ds("b", [0], ("COVID",), groups=("nih:00000001",))
    m = merge([a, b], names=["A", "B"])
    assert m.groups == ("nih:00000001", "A:x", "nih:00000001")
    with pytest.raises(ConfigError, match=r"/a/0\.png"):
        merge([a, a.subset([0])], names=["A", "B"])
    with pytest.raises(ConfigError, match="distinct"):
        merge([a, b], names=["A", "A"])
    with pytest.raises(ConfigError, match="no datasets"):
        merge([])


def test_merge_then_split_keeps_every_patient_on_one_side() -> None:
    n = 60
    labels = [i % 2 for i in range(n)]
    groups = tuple(str(i // 3) for i in range(n))  # 3 images per patient, ids "0".."19" in both
    a = _ds("a", labels, ("COVID", "Normal"), groups=groups)
    b = _ds("b", labels, ("Normal", "Viral Pneumonia"), groups=groups)
    m = merge([a, b])
    assert len(set(m.groups or ())) == 40  # 20 patients per dataset, no collision
    for seed in range(3):
        train, val, test = m.split(test=0.25, val=0.25, seed=seed, dedupe=False)
        sides = [set(p.groups or ()) for p in (train, val, test)]
        assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])


def test_dataspec_round_trip_and_unknown_keys() -> None:
    spec = DataSpec("data/nih", layout="nih-cxr14", label_map="paper", name="nih")
    assert DataSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    spec2 = DataSpec("x", label_map={"Pneumonia": "Viral Pneumonia", "Other": None})
    assert DataSpec.from_dict(spec2.to_dict()) == spec2
    with pytest.raises(ConfigError, match="'labelmap'"):
        DataSpec.from_dict({"path": "x", "labelmap": "paper"})
    with pytest.raises(ConfigError, match="path"):
        DataSpec.from_dict({"layout": "auto"})
    with pytest.raises(ConfigError):
        DataSpec("x", label_map={"a": 3})  # type: ignore[dict-item]
    assert DataSpec.from_dict("some/folder").dataset_name == "folder"


def test_label_map_on_folders_keeps_finding_and_counts_drops(tmp_path: Path) -> None:
    make_tree(tmp_path / "d", {"NORMAL": 2, "Pneumonia": 3, "Other": 1})
    ds = load_dataset(tmp_path / "d", label_map={"Pneumonia": "Viral Pneumonia", "Other": None})
    assert ds.counts() == {"Normal": 2, "Viral Pneumonia": 3}
    assert sorted(set(ds.meta["finding"])) == ["NORMAL", "Pneumonia"]
    assert ds.report is not None
    assert ds.report.dropped_classes == {"Other (dropped by the label map)": 1}
    paper = load_dataset(tmp_path / "d", label_map="paper")
    assert paper.counts() == {"Normal": 2, "Viral Pneumonia": 3}
    assert paper.report is not None
    assert paper.report.dropped_classes == {"Other (not in the label map)": 1}


def test_load_sources_classes_drop_and_count(tmp_path: Path) -> None:
    make_tree(tmp_path / "one", {"COVID": 2, "Normal": 2}, seed=1)
    make_tree(tmp_path / "two", {"NORMAL": 2, "Lung_Opacity": 2}, seed=2)
    ds = load_sources(
        [str(tmp_path / "one"), DataSpec(str(tmp_path / "two"), name="second")],
        classes=CLASSES,
    )
    assert ds.class_names == tuple(CLASSES)
    assert ds.counts() == {"COVID": 2, "Normal": 4, "Viral Pneumonia": 0}
    assert set(ds.meta["dataset"]) == {"one", "second"}
    assert set(ds.sources) == {"one", "second"}
    assert ds.report is not None
    assert ds.report.dropped_classes == {"second: Lung_Opacity": 2}
    assert "second" in ds.describe().to_text()


@pytest.mark.data
def test_cxr_adult_label_map() -> None:
    if not (CXR_ADULT / "MANIFEST.csv").is_file():
        pytest.skip(f"cxr-adult not found at {CXR_ADULT} (it sits beside the repo in CI)")
    ds = load_dataset(CXR_ADULT, label_map={"Pneumonia": "Viral Pneumonia"})
    assert ds.class_names == ("Normal", "Viral Pneumonia")
    assert set(ds.sources) == {"rsna", "nih-nofinding", "nih-pneumonia"}
    assert "finding" in ds.meta


@pytest.mark.data
def test_cxr3_plus_cxr_adult(cxr3_dir: Path) -> None:
    if not (CXR_ADULT / "MANIFEST.csv").is_file():
        pytest.skip(f"cxr-adult not found at {CXR_ADULT} (it sits beside the repo in CI)")
    ds = load_sources(
        [
            DataSpec(str(cxr3_dir.parent / "cxr3")),
            DataSpec(str(CXR_ADULT), label_map={"Pneumonia": "Viral Pneumonia"}),
        ],
        classes=CLASSES,
    )
    assert len(ds) == 2061
    assert len(set(ds.sources)) == 6
    assert ds.class_names == tuple(CLASSES)
    train, test = ds.split(test=0.2, val=0, dedupe=False)
    assert not set(train.groups or ()) & set(test.groups or ())
    text = ds.describe().to_text()
    assert "nih-pneumonia" in text


def test_describe_age_summary_before_and_after_merge() -> None:
    a = _ds("a", [0, 0, 0], ("COVID", "Normal"), source=("s", "s", "s"), age=("30", "50", "x"))
    b = _ds("b", [0, 0], ("Normal",), age=("4", "6"))
    d = a.describe()
    assert d.ages == {"s": {"COVID": "30-50 (median 40, n=2)"}}
    m = merge([a, b])
    text = m.describe().to_text()
    assert "age (years) by class x source:" in text
    assert "b / Normal: 4-6 (median 5, n=2); paediatric" in text
    assert m.describe().source_only_accuracy == 1.0
    assert type(d).from_dict(d.to_dict()) == d
