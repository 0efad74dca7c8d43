"""One manifest rule: a CSV with both ``group`` and ``patient_id`` means the same everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

import xraycls
from xraycls.data._manifest import GROUP_COLUMNS, group_column, header_columns, load_manifest

# Each file's `group` differs from its `patient_id`: whichever a reader took shows in ds.groups.
_HEADER = "file,label,patient_id,group,view\n"


def _rows(files: list[Path], root: Path) -> str:
    lines = []
    for i, f in enumerate(files):
        rel = f.relative_to(root).as_posix()
        lines.append(f"{rel},{f.parent.name},pid{i % 3},grp{i % 2},AP\n")
    return "".join(lines)


def _expected(ds: xraycls.Dataset, files: list[Path]) -> tuple[str, ...]:
    by_file = {str(f): f"grp{i % 2}" for i, f in enumerate(files)}
    return tuple(by_file[f] for f in ds.files)


@pytest.fixture
def tree(tiny_tree: Path) -> tuple[Path, list[Path]]:
    return tiny_tree, sorted(tiny_tree.rglob("*.png"))


def test_group_column_rule() -> None:
    assert GROUP_COLUMNS[0] == "group"
    cols = header_columns(["File", "Patient_ID", " Group "])
    assert group_column(cols) == " Group "
    assert group_column(header_columns(["file", "PatientID"])) == "PatientID"
    assert group_column(header_columns(["file", "label"])) is None


def test_csv_layout_and_manifest_read_groups_alike(tree: tuple[Path, list[Path]]) -> None:
    root, files = tree
    # 1. The data's own CSV (the csv layout).
    csv_path = root / "labels.csv"
    csv_path.write_text(_HEADER + _rows(files, root), encoding="utf-8")
    from_csv = xraycls.load_dataset(csv_path)
    # 2. A MANIFEST.csv beside the class folders (a folder layout; groups and meta from it).
    csv_path.rename(root / "MANIFEST.csv")
    from_manifest = xraycls.load_dataset(root)
    assert from_manifest.report is not None and from_manifest.report.layout != "csv"
    assert "MANIFEST.csv" in (from_manifest.report.groups_source or "")
    # 3. The manifest reader itself.
    manifest = load_manifest(root / "MANIFEST.csv")

    for ds in (from_csv, from_manifest):
        assert ds.groups == _expected(ds, files)
        # Neither group column leaks into the per-image columns; the others do.
        assert set(ds.meta) == {"view"}
    assert manifest.groups == {str(f): f"grp{i % 2}" for i, f in enumerate(files)}
    assert set(manifest.columns) == {"view"}

    # 4. Splitting keeps each `group` (not each patient_id) in one part.
    parts = from_manifest.split(test=0.5, val=0.0, seed=0)
    train, test = parts[0], parts[-1]
    assert train.groups is not None and test.groups is not None
    assert not set(train.groups) & set(test.groups)

    # 5. What Dataset.to_csv writes (a `group` column) reads back as the same groups.
    from_csv.to_csv(root / "written.csv")
    again = xraycls.load_dataset(root / "written.csv")
    assert again.groups == from_csv.groups


def test_row_longer_than_the_header(tiny_tree: Path) -> None:
    # The extra cells have no column name: they are no per-image column (this used to crash
    # the csv layout with AttributeError).
    (tiny_tree / "m.csv").write_text(
        "file,label,view\nCOVID/COVID (1).png,COVID,AP,extra,cells\n", encoding="utf-8"
    )
    ds = xraycls.load_dataset(tiny_tree / "m.csv")
    assert ds.meta == {"view": ("AP",)}
    assert load_manifest(tiny_tree / "m.csv").columns == {
        "view": {str(tiny_tree / "COVID" / "COVID (1).png"): "AP"}
    }
