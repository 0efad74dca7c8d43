"""Dataset discovery and manifests under odd conditions: output folders inside the data, symlink
loops, file names that are not UTF-8, classes too small to split."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

from _helpers_data import fake_xray, write_image
from xraycls._outputs import OUTPUT_MARKER, is_output_dir
from xraycls.data import Dataset, check_split_classes, load_dataset
from xraycls.errors import ConfigError

CLASSES = ("COVID", "NORMAL", "Viral Pneumonia")


def _kaggle_v1(root: Path, per_class: int = 3) -> Path:
    for k, cls in enumerate(CLASSES):
        for i in range(per_class):
            write_image(root / cls / f"{cls} ({i}).png", fake_xray(10 * k + i))
    return root


def _run_folder(run: Path) -> None:
    """What `train --out DATA/run1` and `report` leave: state, models, report PNGs."""
    (run / "report").mkdir(parents=True)
    (run / "state.json").write_text('{"epoch": 1}')
    (run / "config.json").write_text("{}")
    for name in ("curves.png", "confusion.png"):
        write_image(run / "report" / name, fake_xray(99))
    (run / "report" / "report.html").write_text("<html></html>")


@pytest.mark.parametrize("layout", ["kaggle-v1", "folders"])
def test_a_run_folder_inside_the_data_is_not_a_class(tmp_path: Path, layout: str) -> None:
    data = _kaggle_v1(tmp_path / "data")
    if layout == "folders":  # a generic tree: images one level further down
        write_image(data / "Other" / "sub" / "x.png", fake_xray(5))
    _run_folder(data / "run1")
    ds = load_dataset(data)
    assert "run1" not in ds.class_names
    assert not any("run1" in f for f in ds.files)
    assert ds.report is not None and any(
        p.rstrip(os.sep).endswith("run1") for p in ds.report.ignored
    )
    if layout == "kaggle-v1":
        assert ds.class_names == ("COVID", "Normal", "Viral Pneumonia")
        assert ds.report.layout == "kaggle-v1"


def test_a_marked_folder_deeper_in_a_class_is_skipped(tmp_path: Path) -> None:
    data = _kaggle_v1(tmp_path / "data")
    cams = data / "COVID" / "cams"
    write_image(cams / "a_gradcam.png", fake_xray(7))
    (cams / OUTPUT_MARKER).write_text("")
    ds = load_dataset(data, layout="folders")
    assert ds.counts()["COVID"] == 3 and is_output_dir(cams)


def test_cli_refuses_out_inside_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from xraycls.cli import main

    data = _kaggle_v1(tmp_path / "data")
    code = main(["data", "inspect", str(data), "--no-duplicates", "--out", str(data / "x")])
    assert code == 2
    err = capsys.readouterr().err
    assert "inside DIR" in err and "Traceback" not in err and "data inspect: error" in err
    assert not (data / "x").exists()


def test_symlink_loop_in_a_kaggle_v1_class_folder_is_reported(tmp_path: Path) -> None:
    data = _kaggle_v1(tmp_path / "data")
    loop = data / "COVID" / "loop.png"
    os.symlink(loop, loop)  # points at itself: ELOOP on open or stat
    os.symlink(data / "COVID" / "dir_loop", data / "COVID" / "dir_loop")
    with pytest.warns(UserWarning, match="loop.png"):
        ds = load_dataset(data, on_error="skip")
    assert ds.counts() == {"COVID": 3, "Normal": 3, "Viral Pneumonia": 3}
    assert ds.report is not None
    [(path, reason)] = ds.report.skipped
    assert path.endswith("loop.png") and "symlink loop" in reason
    with pytest.raises(Exception) as info:
        load_dataset(data)
    assert type(info.value).__name__ == "DatasetLayoutError" and "loop.png" in str(info.value)


def test_symlink_loop_in_a_generic_tree_is_reported(tmp_path: Path) -> None:
    data = _kaggle_v1(tmp_path / "data")
    normal = data / "NORMAL"
    os.symlink(normal / "gone.png", normal / "l.png")  # dangling
    (normal / "sub").mkdir()
    os.symlink(normal / "sub" / "x.png", normal / "sub" / "x.png")  # a loop, one level down
    with pytest.warns(UserWarning):
        ds = load_dataset(data, on_error="skip", layout="folders")
    assert ds.counts()["Normal"] == 3
    assert ds.report is not None and len(ds.report.skipped) == 2


# ------------------------------------------------------------------ non-UTF-8 file names

_RAW = b"caf\xe9 scan.png"  # Latin-1 bytes: not valid UTF-8


@pytest.fixture
def latin1_data(tmp_path: Path) -> Path:
    data = _kaggle_v1(tmp_path / "data", per_class=4)
    raw = os.path.join(os.fsencode(data / "COVID"), _RAW)
    try:
        with open(raw, "wb") as fh:
            fh.write((data / "COVID" / "COVID (0).png").read_bytes())
    except OSError as exc:  # pragma: no cover - a file system that refuses such names
        pytest.skip(f"the file system refuses non-UTF-8 names: {exc}")
    return data


def test_manifest_with_a_non_utf8_name_round_trips(latin1_data: Path, tmp_path: Path) -> None:
    ds = load_dataset(latin1_data)
    name = os.fsdecode(_RAW)
    assert any(f.endswith(name) for f in ds.files)
    ds.to_csv(tmp_path / "m.csv")  # raised UnicodeEncodeError before
    assert _RAW in (tmp_path / "m.csv").read_bytes()
    back = load_dataset(tmp_path / "m.csv", layout="csv")
    assert back.files == ds.files


def test_predict_and_skipped_list_with_a_non_utf8_name(latin1_data: Path, tmp_path: Path) -> None:
    from xraycls._outputs import write_skipped

    target = write_skipped(tmp_path / "skipped.csv", [(os.fsdecode(_RAW), "bad")])
    assert _RAW in target.read_bytes()
    with open(target, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        assert list(csv.reader(fh))[1] == [os.fsdecode(_RAW), "bad"]


# ------------------------------------------------------------------ classes too small to split


def test_a_class_too_small_for_the_split_is_refused_by_name() -> None:
    ds = Dataset(
        tuple(f"{i}.png" for i in range(42)),
        np.array([0] * 20 + [1] * 20 + [2] * 2),
        ("COVID", "Normal", "Viral Pneumonia"),
    )
    parts = dict(
        zip(("train", "val", "test"), ds.split(test=0.2, val=0.2, dedupe=False), strict=True)
    )
    with pytest.raises(ConfigError) as info:
        check_split_classes(parts, flags="--test/--val")
    text = str(info.value)
    assert "'Viral Pneumonia' (2 images)" in text and "2 train, 0 val, 0 test" in text
    assert "--test/--val" in text and "COVID" not in text
    # Two-way split: an empty val part is not asked for, so it is no problem.
    train, test = ds.split(test=0.5, val=0.0, dedupe=False)
    check_split_classes({"train": train, "test": test})
