"""Batch inference: folders, globs, manifests, DICOM; error rows; resumable CSV / JSON Lines."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from _helpers_data import write_dicom
from _helpers_serve import NAMES, saved_tiny_model
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


def _png_bytes(value: int = 90) -> bytes:
    return cv2.imencode(".png", np.full((30, 30), value, np.uint8))[1].tobytes()


def test_non_utf8_file_names_complete_and_resume(setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os

    _root, clf, _ = setup
    folder = tmp_path / "odd"
    folder.mkdir()
    raw = os.fsencode(folder) + b"/scan-\xff\xfe.png"
    with open(raw, "wb") as fh:
        fh.write(_png_bytes())
    (folder / "plain.png").write_bytes(_png_bytes(40))
    out = tmp_path / "odd.csv"
    first = predict_files(clf, [folder], out, progress=False)
    assert first.predicted == 2
    assert b"scan-\xff\xfe.png" in out.read_bytes()  # the original bytes, losslessly
    again = predict_files(clf, [folder], out, progress=False)
    assert again.resumed == 2 and again.predicted == 0
    jl = predict_files(clf, [folder], tmp_path / "odd.jsonl", progress=False)
    assert jl.predicted == 2


def _sha(path):  # type: ignore[no-untyped-def]
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_unrelated_out_is_refused_byte_identical(setup, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from xraycls.cli import main

    root, clf, folder = setup
    notes = tmp_path / "notes.csv"
    notes.write_text("name,comment\nalice,first\nbob,no newline at the end")
    png = tmp_path / "image.csv"
    png.write_bytes(_png_bytes() + b"tail")
    mine = tmp_path / "mine.json"
    mine.write_text('{"settings": [1, 2, 3]}')
    log = tmp_path / "log.jsonl"
    log.write_text('{"event": "start"}\n{"event": "cut')
    for target in (notes, png, mine, log):
        before = _sha(target)
        for extra in ([], ["--overwrite"]):
            code = main(["predict", str(root / "m.keras"), str(folder), "--out", str(target),
                         "--quiet", *extra])  # fmt: skip
            err = capsys.readouterr().err
            assert code == 2, target
            assert str(target) in err and "Traceback" not in err
            assert "untouched" in err
        assert _sha(target) == before, target
    with pytest.raises(ConfigError, match="not a prediction file"):
        predict_files(clf, [folder], notes, overwrite=True, progress=False)
    assert _sha(notes) == _sha(notes)
    # an earlier .json of predict is replaced
    ours = tmp_path / "ours.json"
    assert main(["predict", str(root / "m.keras"), str(folder), "--out", str(ours)]) == 0
    assert main(["predict", str(root / "m.keras"), str(folder), "--out", str(ours)]) == 0


def test_formula_cells_are_escaped_and_read_back(setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _root, clf, _ = setup
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "=HYPERLINK(1).png").write_bytes(_png_bytes())
    (folder / "@sum.png").write_bytes(_png_bytes(10))
    out = tmp_path / "f.csv"
    predict_files(clf, [folder], out, progress=False)
    rows = _read_csv(out)
    names = sorted(r["file"].rsplit("/", 1)[-1] for r in rows)
    assert names == ["'=HYPERLINK(1).png", "'@sum.png"] or all(
        not r["file"].startswith(("=", "+", "-", "@")) for r in rows
    )
    assert all(r["file"].startswith(("'", "/")) for r in rows)
    assert predict_files(clf, [folder], out, progress=False).resumed == 2  # read back
    # a manifest written by xraycls keeps such names, escaped, and reads them back
    from xraycls.data import load_dataset

    ds = load_dataset(make_image_folder(tmp_path / "d", per_class=2))
    import dataclasses

    odd = tmp_path / "d" / "-x.png"
    odd.write_bytes(Path(ds.files[0]).read_bytes())
    ds = dataclasses.replace(ds, files=[str(odd), *ds.files[1:]])
    manifest = tmp_path / "d" / "m.csv"
    ds.to_csv(manifest)
    text = manifest.read_text()
    assert "'-x.png" in text and "\n-" not in text and "\n=" not in text
    assert str(odd) in load_dataset(manifest).files
    from xraycls._outputs import write_skipped

    listed = write_skipped(tmp_path / "skipped.csv", [("=cmd|' /C calc'!A0", "+bad")])
    assert listed.read_text().splitlines()[1] == "'=cmd|' /C calc'!A0,'+bad"


def test_torn_row_after_a_quoted_newline_and_absolute_resume(setup, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _root, clf, _ = setup
    folder = tmp_path / "q"
    folder.mkdir()
    (folder / "a.png").write_bytes(_png_bytes())
    (folder / "line\nbreak.png").write_bytes(_png_bytes(20))
    (folder / "z.png").write_bytes(_png_bytes(30))
    out = tmp_path / "q.csv"
    predict_files(clf, [folder], out, progress=False)
    data = out.read_bytes()
    cut = data.index(b"line\n") + len(b"line\n")  # killed just after the newline in the name
    out.write_bytes(data[:cut])
    again = predict_files(clf, [folder], out, progress=False)
    assert again.predicted == 2 and again.resumed == 1
    rows = _read_csv(out)
    assert len(rows) == 3 and sorted(r["file"] for r in rows) == sorted(
        str(folder / n) for n in ("a.png", "line\nbreak.png", "z.png")
    )
    # a kill while the header (CSV) or the first row (JSONL) was written: resumed, not refused
    for name, keep in (("h.csv", 9), ("h.jsonl", 20)):
        torn = tmp_path / name
        predict_files(clf, [folder / "a.png"], torn, progress=False)
        torn.write_bytes(torn.read_bytes()[:keep])
        assert predict_files(clf, [folder], torn, progress=False).predicted == 3
    # the same folder, spelled relative: nothing is written twice
    monkeypatch.chdir(tmp_path)
    assert predict_files(clf, ["q"], out, progress=False).resumed == 3
    assert len(_read_csv(out)) == 3


def test_manifest_entries_outside_its_folder_are_refused(setup, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from xraycls.cli import main

    root, clf, _ = setup
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:secret-password-hash\n")
    inside = tmp_path / "m" / "scans"
    inside.mkdir(parents=True)
    (inside / "a.png").write_bytes(_png_bytes())
    notes = inside / "notes.png"
    notes.write_text("root:x:0:0:another-secret\n")  # a text file inside: not an image
    manifest = tmp_path / "m" / "list.csv"
    manifest.write_text(f"file\nscans/a.png\n../secret.txt\n{secret}\nscans/notes.png\n")
    out = tmp_path / "m.csv"
    predict_files(clf, [manifest], out, progress=False)
    rows = _read_csv(out)
    assert [bool(r["error"]) for r in rows] == [False, True, True, True]
    assert all("outside the manifest's folder" in r["error"] for r in rows[1:3])
    text = out.read_text()
    assert "root:x" not in text and "secret" not in text.replace("secret.txt", "")
    assert main(["predict", str(root / "m.keras"), str(manifest), "--out",
                 str(tmp_path / "all.csv"), "--allow-outside-root", "--quiet"]) == 0  # fmt: skip
    rows = _read_csv(tmp_path / "all.csv")
    assert not any("outside" in r["error"] for r in rows)
    assert "root:x" not in (tmp_path / "all.csv").read_text()
