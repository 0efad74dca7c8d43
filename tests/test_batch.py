"""Batch inference: folders, globs, manifests, DICOM; error rows; resumable CSV / JSON Lines."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest

from _helpers_serve import NAMES, saved_tiny_model, write_dicom
from _helpers_train import make_image_folder
from xraycls.batch import expand_inputs, predict_files
from xraycls.errors import ConfigError


@pytest.fixture(scope="module")
def setup(tmp_path_factory):  # type: ignore[no-untyped-def]
    from xraycls.predict import Classifier

    root = tmp_path_factory.mktemp("batch")
    clf = Classifier.load(saved_tiny_model(root / "m.keras"))
    folder = make_image_folder(root / "imgs", per_class=3)
    extra = root / "extra"
    extra.mkdir()
    pytest.importorskip("pydicom")
    write_dicom(extra / "scan.dcm", np.arange(40 * 50, dtype=np.uint16).reshape(40, 50) % 4096)
    cv2.imwrite(
        str(extra / "deep.png"), (np.arange(30 * 30).reshape(30, 30) * 60).astype(np.uint16)
    )
    (extra / "notes.png").write_text("not an image")
    good = cv2.imencode(".png", np.full((30, 30), 90, np.uint8))[1].tobytes()
    (extra / "cut.png").write_bytes(good[: len(good) // 2])
    with (root / "list.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows(
            [["path", "note"], ["extra/deep.png", "x"], ["extra/gone.png", "y"]]
        )
    return root, clf, folder


def _read_csv(path):  # type: ignore[no-untyped-def]
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_input_gives_one_row_and_bad_files_are_reported(setup) -> None:  # type: ignore[no-untyped-def]
    root, clf, folder = setup
    inputs = [str(folder), str(root / "extra" / "*.dcm"), str(root / "list.csv"),
              str(root / "extra" / "notes.png"), str(root / "extra" / "cut.png"),
              str(root / "nothing-here"), str(root / "extra" / "*.tif")]  # fmt: skip
    out = root / "all.csv"
    summary = predict_files(clf, inputs, out, batch_size=4, progress=False)
    rows = _read_csv(out)
    assert len(rows) == summary.total == 9 + 1 + 2 + 2 + 2
    assert list(rows[0]) == [
        "file",
        "label",
        "probability",
        *NAMES,
        "decision",
        "uncertainty",
        "error",
    ]
    errors = {r["file"].rsplit("/", 1)[-1]: r["error"] for r in rows if r["error"]}
    assert set(errors) == {"gone.png", "notes.png", "cut.png", "nothing-here", "*.tif"}
    assert "not an image" in errors["notes.png"] and "truncated" in errors["cut.png"]
    assert "matches no file" in errors["*.tif"]
    assert summary.errors == 5 and summary.predicted == 11 and summary.resumed == 0
    ok = [r for r in rows if not r["error"]]
    assert any(r["file"].endswith("scan.dcm") for r in ok)
    # same numbers as predicting the files directly
    files = [r["file"] for r in ok]
    direct = clf.predict(files)
    got = np.array([[float(r[c]) for c in NAMES] for r in ok])
    np.testing.assert_allclose(got, direct, atol=1e-6)
    assert [r["label"] for r in ok] == [NAMES[i] for i in direct.argmax(1)]
    assert all(float(r["probability"]) == max(float(r[c]) for c in NAMES) for r in ok)


def test_resume_skips_done_rows_and_repairs_a_cut_line(setup) -> None:  # type: ignore[no-untyped-def]
    root, clf, folder = setup
    out = root / "resume.jsonl"
    first = predict_files(clf, [folder], out, batch_size=2, progress=False)
    lines = out.read_text().splitlines()
    assert len(lines) == first.total == 9
    # simulate a crash: drop the last three rows and leave half a line behind
    out.write_text("\n".join(lines[:6]) + "\n" + lines[6][: len(lines[6]) // 2])
    again = predict_files(clf, [folder], out, batch_size=2, progress=False)
    assert again.resumed == 6 and again.predicted == 3
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["file"] for r in rows] == [json.loads(line)["file"] for line in lines]
    assert predict_files(clf, [folder], out, progress=False).resumed == 9  # nothing left to do
    fresh = predict_files(clf, [folder], out, overwrite=True, progress=False)
    assert fresh.resumed == 0 and len(out.read_text().splitlines()) == 9


def test_resume_refuses_another_models_columns(setup) -> None:  # type: ignore[no-untyped-def]
    root, clf, folder = setup
    out = root / "other.csv"
    out.write_text("file,label\nx.png,COVID\n")
    with pytest.raises(ConfigError, match="columns"):
        predict_files(clf, [folder], out, progress=False)
    with pytest.raises(ConfigError, match=r"\.jsonl"):
        predict_files(clf, [folder], root / "out.txt", progress=False)


def test_tta_fills_the_uncertainty_column(setup) -> None:  # type: ignore[no-untyped-def]
    root, clf, folder = setup
    out = root / "tta.csv"
    predict_files(clf, [folder], out, tta=True, progress=False)
    assert all(float(r["uncertainty"]) >= 0 for r in _read_csv(out))


def test_cli_predict_streams_and_resumes(setup, capsys) -> None:  # type: ignore[no-untyped-def]
    from xraycls.cli import main

    root, _clf, folder = setup
    model = root / "m.keras"
    out = root / "cli.csv"
    assert main(["predict", str(model), str(folder), str(root / "extra"), "--out", str(out),
                 "--quiet", "--batch-size", "3"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "11 predicted, 2 unreadable" in text
    assert main(["predict", str(model), str(folder), "--out", str(out), "--quiet"]) == 0
    assert "9 already in the file" in capsys.readouterr().out


def test_expand_inputs_keeps_order_and_reports_missing(setup) -> None:  # type: ignore[no-untyped-def]
    root, _, folder = setup
    got = expand_inputs([root / "extra" / "deep.png", folder, root / "missing.png"])
    assert str(got[0]).endswith("deep.png") and len(got) == 11
    assert got[-1].reason == "no such file or folder"


@pytest.mark.slow
def test_example_embed_runs(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "embed.py"
    spec = importlib.util.spec_from_file_location("embed", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data = make_image_folder(tmp_path / "data", per_class=12)
    assert module.main(["--data", str(data), "--epochs", "2", "--out", str(tmp_path / "w")]) == 0
    out = capsys.readouterr().out
    assert "ECE" in out and "decision" in out and "POST /predict" in out
    assert (tmp_path / "w" / "predictions.csv").is_file()
