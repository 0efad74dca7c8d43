"""load_dataset on bad input: every bad file is listed (raise) or reported and skipped (skip)."""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import pytest

from _helpers_data import fake_xray, make_tree, truncate, write_image
from xraycls.data import LoadReport, load_dataset
from xraycls.errors import DatasetLayoutError


@pytest.fixture
def messy(tiny_tree: Path) -> tuple[Path, dict[str, str]]:
    """A Kaggle-v1 tree with one of each kind of bad file; returns root and {name: reason}."""
    root = tiny_tree
    (root / "COVID" / "zero.png").touch()
    truncate(write_image(root / "COVID" / "cut.png", fake_xray(50, (96, 96))))
    truncate(write_image(root / "NORMAL" / "cut.jpg", fake_xray(51, (96, 96))))
    (root / "NORMAL" / "text.png").write_text("hello")
    (root / "NORMAL" / "notes.txt").write_text("not data")  # ignored, not an error
    (root / "Lung_Opacity").mkdir()  # empty class folder
    expected = {
        "zero.png": "empty",
        "cut.png": "truncated",
        "cut.jpg": "truncated",
        "text.png": "not an image",
    }
    return root, expected


def test_raise_lists_every_problem(messy: tuple[Path, dict[str, str]]) -> None:
    root, expected = messy
    with pytest.raises(DatasetLayoutError) as info:
        load_dataset(root)
    msg = str(info.value)
    for name, reason in expected.items():
        line = next(ln for ln in msg.splitlines() if name in ln)
        assert reason in line
    assert "Lung_Opacity" in msg and "no images" in msg
    assert "notes.txt" not in msg
    assert "on_error='skip'" in msg
    report = info.value.report  # type: ignore[attr-defined]
    assert isinstance(report, LoadReport) and len(report.skipped) == 4


def test_skip_loads_the_rest_and_reports(messy: tuple[Path, dict[str, str]]) -> None:
    root, expected = messy
    with pytest.warns(UserWarning, match="left out 4 bad file") as record:
        ds = load_dataset(root, on_error="skip")
    assert len(record) == 1
    assert ds.counts() == {"COVID": 3, "Normal": 3, "Viral Pneumonia": 3}
    assert ds.class_names == ("COVID", "Normal", "Viral Pneumonia")  # empty class left out
    report = ds.report
    assert report is not None and not report.ok
    assert sorted(Path(p).name for p, _ in report.skipped) == sorted(expected)
    assert report.empty_classes == [("Lung_Opacity", str(root / "Lung_Opacity"))]
    assert any(p.endswith("notes.txt") for p in report.ignored)
    text = str(report)
    assert "Skipped 4 bad files" in text and "zero.png: file is empty (0 bytes)" in text
    assert "Empty class folders" in text
    assert LoadReport.from_dict(report.to_dict()) == report


def test_full_verify_finds_the_same(messy: tuple[Path, dict[str, str]]) -> None:
    root, expected = messy
    with pytest.warns(UserWarning):
        ds = load_dataset(root, on_error="skip", verify="full")
    assert ds.report is not None
    assert sorted(Path(p).name for p, _ in ds.report.skipped) == sorted(expected)


def test_verify_false_checks_nothing(tiny_tree: Path) -> None:
    (tiny_tree / "COVID" / "zero.png").touch()
    ds = load_dataset(tiny_tree, verify=False)
    assert len(ds) == 10 and ds.report is not None and ds.report.verify == "none"


def test_empty_class_folder_alone_raises(tmp_path: Path) -> None:
    make_tree(tmp_path / "d", {"COVID": 2, "NORMAL": 2})
    (tmp_path / "d" / "Viral Pneumonia").mkdir()
    with pytest.raises(DatasetLayoutError, match="'Viral Pneumonia' has no images"):
        load_dataset(tmp_path / "d")
    # Not asked for -> not a problem.
    ds = load_dataset(tmp_path / "d", classes=["COVID", "Normal"])
    assert ds.counts() == {"COVID": 2, "Normal": 2}


def test_all_files_bad(tmp_path: Path) -> None:
    (tmp_path / "d" / "COVID").mkdir(parents=True)
    (tmp_path / "d" / "COVID" / "a.png").touch()
    (tmp_path / "d" / "NORMAL").mkdir()
    (tmp_path / "d" / "NORMAL" / "b.png").touch()
    with pytest.raises(DatasetLayoutError, match="no usable images") as info:
        load_dataset(tmp_path / "d", on_error="skip")
    assert "b.png: file is empty" in str(info.value)


def test_unreadable_file_simulated(tiny_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Works as root too (CI), where chmod 000 does not stop reads.
    locked = write_image(tiny_tree / "COVID" / "locked.png", fake_xray(1))
    real_open = builtins.open

    def fake_open(file: object, *args: object, **kwargs: object) -> object:
        if os.fspath(file) == str(locked):  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", str(locked))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(builtins, "open", fake_open)
    with pytest.raises(DatasetLayoutError, match=r"locked\.png: permission denied"):
        load_dataset(tiny_tree)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_unreadable_file(tiny_tree: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip(
            "running as root: chmod 000 does not stop reads "
            "(test_unreadable_file_simulated covers this case)"
        )
    locked = write_image(tiny_tree / "COVID" / "locked.png", fake_xray(1))
    locked.chmod(0)
    try:
        with pytest.raises(DatasetLayoutError, match=r"locked\.png: permission denied"):
            load_dataset(tiny_tree)
    finally:
        locked.chmod(0o644)
