"""Layout detection and class handling of load_dataset, on tiny temporary trees."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from _helpers_data import fake_xray, make_tree, write_image
from xraycls.data import Dataset, load_dataset
from xraycls.data._classes import canonical_class
from xraycls.errors import ConfigError, DatasetLayoutError


def test_kaggle_v1_with_covid19_folder(tmp_path: Path) -> None:
    root = tmp_path / "COVID-19 Radiography Database"
    make_tree(root, {"COVID-19": 3, "NORMAL": 4, "Viral Pneumonia": 2})
    (root / "README.md.txt").write_text("readme")
    ds = load_dataset(root)
    assert ds.report is not None and ds.report.layout == "kaggle-v1"
    assert ds.class_names == ("COVID", "Normal", "Viral Pneumonia")
    assert ds.counts() == {"COVID": 3, "Normal": 4, "Viral Pneumonia": 2}
    # natural order inside a class: (2) before (10) would matter; check monotone numbering
    assert [Path(f).name for f in ds.files[:3]] == [
        "COVID-19 (1).png",
        "COVID-19 (2).png",
        "COVID-19 (3).png",
    ]
    assert ds.groups is None
    assert any(f.endswith("README.md.txt") for f in ds.report.ignored)
    assert all(Path(f).is_absolute() for f in ds.files)


def test_kaggle_v1_from_parent_folder_and_natural_sort(tmp_path: Path) -> None:
    root = tmp_path / "download" / "COVID-19 Radiography Database"
    make_tree(root, {"COVID": 11, "NORMAL": 2})
    ds = load_dataset(tmp_path / "download")
    assert ds.report is not None and ds.report.layout == "kaggle-v1"
    names = [Path(f).name for f in ds.files if "COVID (" in f]
    assert names[1] == "COVID (2).png" and names[-1] == "COVID (11).png"


def test_kaggle_v2_loads_images_not_masks(tmp_path: Path) -> None:
    root = tmp_path / "COVID-19_Radiography_Dataset"
    spec = {"COVID": 2, "Normal": 3, "Lung_Opacity": 2, "Viral Pneumonia": 1}
    make_tree(root, spec, sub="images", name="{cls}-{i}")
    make_tree(root, spec, sub="masks", name="{cls}-{i}", seed=7)
    for cls in spec:
        (root / f"{cls}.metadata.xlsx").write_bytes(b"PK\x03\x04 not really")
    ds = load_dataset(tmp_path)
    assert ds.report is not None and ds.report.layout == "kaggle-v2"
    assert ds.class_names == ("COVID", "Normal", "Viral Pneumonia", "Lung_Opacity")
    assert ds.counts() == {"COVID": 2, "Normal": 3, "Viral Pneumonia": 1, "Lung_Opacity": 2}
    assert not any("masks" in f for f in ds.files)
    assert sum("masks" in f for f in ds.report.ignored) == 4
    assert sum(f.endswith(".xlsx") for f in ds.report.ignored) == 4


def test_classes_list_selects_and_orders(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make_tree(
        root, {"COVID": 2, "Normal": 3, "Lung_Opacity": 2, "Viral Pneumonia": 1}, sub="images"
    )
    ds = load_dataset(root, classes=["covid-19", "Viral Pneumonia", "NORMAL"])
    assert ds.class_names == ("COVID", "Viral Pneumonia", "Normal")
    assert ds.counts() == {"COVID": 2, "Viral Pneumonia": 1, "Normal": 3}
    assert ds.report is not None and ds.report.dropped_classes == {"Lung_Opacity": 2}
    assert "Lung_Opacity (2)" in str(ds.report)
    with pytest.raises(DatasetLayoutError, match="Pneumonia bacterial"):
        load_dataset(root, classes=["COVID", "Pneumonia bacterial"])
    with pytest.raises(ConfigError, match="twice"):
        load_dataset(root, classes=["COVID", "covid"])


def test_classes_dict_maps_merges_and_drops(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make_tree(root, {"COVID": 2, "Normal": 3, "Lung_Opacity": 2, "Viral Pneumonia": 1})
    ds = load_dataset(
        root, classes={"Normal": "non-COVID", "Viral Pneumonia": "non-COVID", "Lung_Opacity": None}
    )
    assert ds.class_names == ("COVID", "non-COVID")
    assert ds.counts() == {"COVID": 2, "non-COVID": 4}
    assert ds.report is not None and ds.report.dropped_classes == {"Lung_Opacity": 2}
    with pytest.raises(ConfigError, match="Tuberculosis"):
        load_dataset(root, classes={"Tuberculosis": None})


def test_generic_folder_per_class_recursive_with_extras(tmp_path: Path) -> None:
    root = tmp_path / "mydata"
    make_tree(root, {"pneumonia_bacterial": 2, "normal": 2})
    write_image(root / "normal" / "batch2" / "x.jpg", fake_xray(99))
    (root / "normal" / "notes.txt").write_text("hi")
    (root / "normal" / ".DS_Store").write_bytes(b"\0")
    ds = load_dataset(root)
    assert ds.report is not None and ds.report.layout == "folders"
    assert ds.class_names == ("Normal", "pneumonia_bacterial")
    assert ds.counts() == {"Normal": 3, "pneumonia_bacterial": 2}
    assert [f for f in ds.report.ignored if f.endswith("notes.txt")]
    assert not [f for f in ds.report.ignored if ".DS_Store" in f]


def test_csv_manifest_with_groups_and_origins(tmp_path: Path) -> None:
    imgs = make_tree(tmp_path / "images", {"a": 4})
    with open(tmp_path / "list.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label", "patient_id", "origin"])
        w.writerow(["images/a/a (1).png", "COVID-19", "p1", ""])
        w.writerow(["images/a/a (2).png", "normal", "p1", ""])
        w.writerow(["images/a/a (3).png", "Viral_Pneumonia", "p2", "images/a/a (1).png"])
        w.writerow(["images/a/a (4).png", "NORMAL", "", ""])
    for target in (tmp_path / "list.csv", tmp_path):
        ds = load_dataset(target)
        assert ds.report is not None and ds.report.layout == "csv"
        assert ds.files == tuple(str(p) for p in imgs)
        assert ds.class_names == ("COVID", "Normal", "Viral Pneumonia")
        assert ds.labels.tolist() == [0, 1, 2, 1]
        assert ds.groups == ("p1", "p1", "p2", str(imgs[3]))
        assert ds.origins == (str(imgs[0]), str(imgs[1]), str(imgs[0]), str(imgs[3]))


def test_csv_missing_file_is_reported(tmp_path: Path) -> None:
    make_tree(tmp_path / "img", {"a": 1})
    (tmp_path / "m.csv").write_text("file,label\nimg/a/a (1).png,COVID\nimg/gone.png,Normal\n,x\n")
    with pytest.raises(DatasetLayoutError) as info:
        load_dataset(tmp_path / "m.csv")
    msg = str(info.value)
    assert "gone.png: file does not exist" in msg and "m.csv:4" in msg
    with pytest.warns(UserWarning, match="left out 2 bad"):
        ds = load_dataset(tmp_path / "m.csv", on_error="skip")
    assert len(ds) == 1


def test_csv_round_trip(tmp_path: Path, tiny_tree: Path, tiny_dataset: Dataset) -> None:
    ds = Dataset(
        tiny_dataset.files,
        tiny_dataset.labels,
        tiny_dataset.class_names,
        groups=tuple("pppqqqrrr"),
        origins=(tiny_dataset.files[0],) * 9,
        root=tiny_dataset.root,
    )
    out = tiny_tree / "splits" / "train.csv"
    out.parent.mkdir()
    ds.to_csv(out)
    text = out.read_text()
    assert text.startswith("file,label,group,origin\n")
    assert str(tmp_path) in text  # files outside the CSV folder are written absolute
    back = load_dataset(out, layout="csv")
    assert back == ds
    inside = tiny_tree / "all.csv"
    ds.to_csv(inside)
    assert "COVID/COVID (1).png,COVID" in inside.read_text()
    assert load_dataset(inside, layout="csv") == ds
    assert not list(out.parent.glob(".tmp-*"))


def test_kermany_names_give_groups(tmp_path: Path) -> None:
    root = tmp_path / "chest_xray"
    for i, name in enumerate(["person1_virus_6", "person1_virus_7", "person22_bacteria_1"]):
        write_image(root / "PNEUMONIA" / f"{name}.jpeg", fake_xray(i))
    for i, name in enumerate(["IM-0115-0001", "NORMAL2-IM-0393-0001", "other"]):
        write_image(root / "NORMAL" / f"{name}.jpeg", fake_xray(10 + i))
    ds = load_dataset(root)
    by_name = {Path(f).stem: g for f, g in zip(ds.files, ds.groups or (), strict=True)}
    assert by_name["person1_virus_6"] == by_name["person1_virus_7"] == "kermany:person1"
    assert by_name["person22_bacteria_1"] == "kermany:person22"
    assert by_name["IM-0115-0001"] == "kermany:IM-0115"
    assert by_name["NORMAL2-IM-0393-0001"] == "kermany:NORMAL2-IM-0393"
    assert by_name["other"].endswith("other.jpeg")  # own group
    assert ds.report is not None and "Kermany" in (ds.report.groups_source or "")


def test_manifest_above_root_gives_groups(tmp_path: Path) -> None:
    root = tmp_path / "set" / "COVID-19 Radiography Database"
    make_tree(root, {"COVID": 2, "NORMAL": 2})
    (tmp_path / "set" / "MANIFEST.csv").write_text(
        "file,label,patient_id\n"
        "COVID-19 Radiography Database/COVID/COVID (1).png,COVID,x:1\n"
        "COVID-19 Radiography Database/COVID/COVID (2).png,COVID,x:1\n"
        "COVID-19 Radiography Database/NORMAL/NORMAL (1).png,NORMAL,x:2\n"
    )
    for target in (tmp_path / "set", root):
        ds = load_dataset(target)
        assert ds.groups is not None
        assert ds.groups[:3] == ("x:1", "x:1", "x:2")
        assert ds.groups[3] == ds.files[3]


def test_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="no such file"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match="not a dataset"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(DatasetLayoutError, match="unknown layout"):
        load_dataset(tmp_path / "empty", layout="imagenet")
    with pytest.raises(ConfigError):
        load_dataset(tmp_path / "empty", on_error="ignore")


@pytest.mark.parametrize(
    ("raw", "canon"),
    [
        ("COVID-19", "COVID"),
        ("covid19", "COVID"),
        ("COVID", "COVID"),
        ("NORMAL", "Normal"),
        ("normal", "Normal"),
        ("viral pneumonia", "Viral Pneumonia"),
        ("Viral_Pneumonia", "Viral Pneumonia"),
        ("Lung Opacity", "Lung_Opacity"),
        ("Tuberculosis", "Tuberculosis"),
    ],
)
def test_canonical_class(raw: str, canon: str) -> None:
    assert canonical_class(raw) == canon


def test_dataset_validation() -> None:
    with pytest.raises(ConfigError, match="labels"):
        Dataset(("a",), np.array([0, 1]), ("x", "y"))
    with pytest.raises(ConfigError, match=r"0\.\.1"):
        Dataset(("a",), np.array([2]), ("x", "y"))
    with pytest.raises(ConfigError, match="groups"):
        Dataset(("a",), np.array([0]), ("x",), groups=("g", "h"))
    ds = Dataset(("a", "b"), [0, 1], ("x", "y"))
    assert ds.labels.dtype == np.int64 and not ds.labels.flags.writeable
    with pytest.raises(AttributeError):
        ds.files = ()  # type: ignore[misc]
