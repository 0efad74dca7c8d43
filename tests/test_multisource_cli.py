"""Several datasets in one run: `reproduce`/`train`/`data inspect` with repeated --data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _helpers_train import make_image_folder
from xraycls.cli import main
from xraycls.protocols import get_profile, reproduce
from xraycls.zoo import load_model_info

TINY = {"model_kwargs": {"simple_cnn": {"width": 4, "head_width": 8}}, "image_size": 32}


def _two_datasets(tmp_path: Path) -> tuple[Path, Path]:
    kids = make_image_folder(tmp_path / "kids", per_class=10, size=32)
    adults = make_image_folder(
        tmp_path / "adults", per_class=10, size=32, classes=("NORMAL", "Pneumonia")
    )
    return kids, adults


def _tiny_profile(tmp_path: Path) -> Path:
    prof = get_profile("multisource").replace(
        train={**get_profile("multisource").train, "epochs": 2}, shift_augment=None, **TINY
    )
    path = tmp_path / "tiny.json"
    path.write_text(prof.to_json())
    return path


def test_reproduce_trains_on_two_datasets_with_a_label_map(tmp_path: Path, capsys) -> None:
    kids, adults = _two_datasets(tmp_path)
    out = tmp_path / "out"
    code = main(
        ["reproduce", "--profile", str(_tiny_profile(tmp_path)), "--data", str(kids),
         "--data", str(adults), "--label-map", "Pneumonia=Viral Pneumonia", "--out", str(out),
         "--verbose", "0"]
    )  # fmt: skip
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert [d["path"] for d in results["data"]] == [str(kids), str(adults)]
    assert results["data"][1]["label_map"] == {"Pneumonia": "Viral Pneumonia"}
    # Said up front and kept: what the data lets a model cheat on.
    assert results["data_warnings"] and (out / "data.json").is_file()
    assert "cheat on" in (out / "results.md").read_text()
    # Both datasets reach every split; the adults' Pneumonia is the third class.
    counts = results["splits"]["train (balanced)"]
    assert set(counts) == {"COVID", "Normal", "Viral Pneumonia"}
    info = load_model_info(out / "simple_cnn" / "best.keras").to_dict()
    trained = info["training_data"]
    assert trained["label_maps"]["adults"] == {"Pneumonia": "Viral Pneumonia"}
    assert len(trained["sources"]) >= 2 and trained["notes"]
    groups = json.loads((out / "simple_cnn" / "val_groups.json").read_text())
    assert len(groups) == 2 and "worst_group" in groups[0]
    history = json.loads((out / "simple_cnn" / "history.json").read_text())
    assert "val_worst_group_accuracy" in history[0]


def test_a_profile_can_name_its_data(tmp_path: Path) -> None:
    kids, adults = _two_datasets(tmp_path)
    prof = get_profile(str(_tiny_profile(tmp_path))).replace(
        data=({"path": str(kids)}, {"path": str(adults)})
    )
    # The profile's label map reaches the dataset that has none of its own.
    result = reproduce(None, profile=prof, out=tmp_path / "out", verbose=0)
    assert result.splits["test"].keys() == {"COVID", "Normal", "Viral Pneumonia"}
    assert result.data[1]["label_map"] == {"Pneumonia": "Viral Pneumonia"}


def test_label_map_before_any_data_is_a_usage_error(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--label-map", "A=B", "--data", str(tmp_path)])
    assert exc.value.code == 2
    assert "--data DIR first" in capsys.readouterr().err


def test_reproduce_without_any_data_says_so(tmp_path: Path, capsys) -> None:
    code = main(["reproduce", "--profile", "quick", "--out", str(tmp_path / "o")])
    assert code != 0
    assert "--data" in capsys.readouterr().err


def test_data_inspect_shows_each_dataset_then_the_merge(tmp_path: Path, capsys) -> None:
    kids, adults = _two_datasets(tmp_path)
    code = main(
        ["data", "inspect", str(kids), "--data", str(adults), "--label-map",
         "Pneumonia=Viral Pneumonia"]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "== kids" in printed and "== adults" in printed and "== merged: 50 images" in printed
