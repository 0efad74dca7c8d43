"""Tests of xraycls.reporting and the ``cam`` / ``report`` commands."""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from _helpers_explain import CLASS_NAMES, fake_run_dir, gap_dense_model, write_png
from xraycls.errors import ConfigError
from xraycls.evaluation import EvaluationReport
from xraycls.reporting import report
from xraycls.reporting._run import evaluation_view

FIGURES = ("training_curves.png", "confusion_matrix.png", "roc_curves.png", "calibration.png")


def _png(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, f"{path} is not a decodable image"
    return image


def _embedded(html: str) -> list[np.ndarray]:
    images = []
    for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html):
        buf = np.frombuffer(base64.b64decode(data), np.uint8)
        images.append(cv2.imdecode(buf, cv2.IMREAD_COLOR))
    return images


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("full")
    return root, fake_run_dir(root, gap_dense_model())


def test_full_report(full_run):
    root, run = full_run
    page = report(run, data=root / "data", n_cam=2)
    assert page == run / "report" / "report.html"
    html = page.read_text(encoding="utf-8")
    for name in (*FIGURES, "cams.png"):
        image = _png(run / "report" / name)
        assert image.shape[0] > 200 and image.shape[1] > 200, name
        assert image.std() > 5, f"{name} looks blank"
        assert name in html
    embedded = _embedded(html)
    assert len(embedded) == 5 and all(e is not None and e.shape[0] > 200 for e in embedded)
    # Self-contained: no scripts, no remote resources.
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert 'class="note"' not in html, re.findall(r'<div class="note">[^<]*', html)
    for text in ("Test metrics", "sensitivity", "macro", "Configuration", "train.epochs"):
        assert text in html
    assert all(name in html for name in CLASS_NAMES)
    # cams.png: 3 class rows x 4 columns of tiles -> wide, not tall.
    cams = _png(run / "report" / "cams.png")
    assert cams.shape[1] > cams.shape[0]
    assert not list((run / "report").glob("*.tmp"))


def test_report_to_other_folder_and_n_cam_zero(full_run, tmp_path):
    _, run = full_run
    page = report(run, tmp_path / "out", n_cam=0)
    assert page == tmp_path / "out" / "report.html"
    assert not (tmp_path / "out" / "cams.png").exists()
    assert "n_cam is 0" in page.read_text()
    for name in FIGURES:
        _png(tmp_path / "out" / name)


def test_missing_images_are_a_note_not_a_crash(full_run, tmp_path):
    _, run = full_run
    html = report(run, tmp_path / "out").read_text()  # no data=: relative paths unresolved
    assert "image files not found" in html and "data=" in html
    assert not (tmp_path / "out" / "cams.png").exists()


def test_run_without_evaluation(tmp_path):
    run = fake_run_dir(tmp_path, gap_dense_model(), with_evaluation=False)
    html = report(run).read_text()
    assert html.count('class="note"') >= 4  # confusion, roc, calibration, cams, metrics
    assert "evaluation.json not found" in html
    _png(run / "report" / "training_curves.png")
    assert not (run / "report" / "confusion_matrix.png").exists()


def test_empty_run_folder_and_bad_files(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "evaluation.json").write_text("{not json")
    html = report(tmp_path / "run").read_text()
    assert "could not be read" in html and "config.json not found" in html
    with pytest.raises(ConfigError, match="not a folder"):
        report(tmp_path / "nope")
    with pytest.raises(ConfigError, match="n_cam"):
        report(tmp_path / "run", n_cam=-1)


def test_history_csv_fallback(full_run, tmp_path):
    _, run = full_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("report", "*.keras"))
    rows = json.loads((copy / "history.json").read_text())
    (copy / "history.json").unlink()
    lines = ["epoch,loss,accuracy,val_loss,val_accuracy,lr"]
    lines += [",".join(str(r[k]) for k in lines[0].split(",")) for r in rows]
    (copy / "history.csv").write_text("\n".join(lines) + "\n")
    html = report(copy).read_text()
    assert "training_curves.png" in html
    assert "no best.keras" in html


def test_evaluation_json_in_another_schema_is_refused_with_the_key_named(tmp_path):
    # evaluation.json has one schema, EvaluationReport's: spellings xraycls never wrote
    # ("roc", "reliability", "ci_low"...) are not guessed at; the page says which key is wrong.
    run = fake_run_dir(tmp_path, gap_dense_model(), variant=True)
    with pytest.raises(ConfigError, match="unknown keys 'auc', 'ece', 'reliability', 'roc'"):
        EvaluationReport.from_json((run / "evaluation.json").read_text())
    html = report(run, data=tmp_path / "data", n_cam=1).read_text()
    assert "evaluation.json could not be read" in html and "unknown key" in html
    assert "training_curves.png" in html


def test_view_of_a_real_evaluation_report():
    evaluate = pytest.importorskip("xraycls.evaluation")
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1]])
    rep = evaluate.compute_metrics(
        [0, 1, 2, 1],
        probs,
        list(CLASS_NAMES),
        files=["a.png", "b.png", "c.png", "d.png"],
        n_bootstrap=20,
    )
    ev = evaluation_view(EvaluationReport.from_json(rep.to_json()))
    assert ev.accuracy[0] == pytest.approx(0.75) and ev.accuracy[1] is not None
    assert ev.confusion is not None and ev.confusion.sum() == 4
    assert ev.per_class["NORMAL"]["support"] == 2
    assert ev.ece is not None and ev.bins
    assert ev.predictions[3] == {
        "file": "d.png",
        "true": "NORMAL",
        "predicted": "COVID",
        "probabilities": pytest.approx([0.6, 0.3, 0.1]),
    }
    assert set(ev.roc) == set(CLASS_NAMES)


# --- command line ------------------------------------------------------------------------------


def _cli(module: str, argv: list[str]) -> int:
    import importlib

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    importlib.import_module(f"xraycls.cli.{module}").register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_cli_report(full_run, tmp_path, capsys):
    root, run = full_run
    out = tmp_path / "r"
    assert (
        _cli(
            "_report",
            ["report", str(run), "--out", str(out), "--data", str(root / "data"), "--n-cam", "1"],
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == str(out / "report.html")
    _png(out / "cams.png")


def test_cli_cam(tmp_path, capsys):
    model = gap_dense_model()
    zoo = pytest.importorskip("xraycls.zoo")
    path = zoo.save_model(model, tmp_path / "m.keras", class_names=list(CLASS_NAMES))
    rng = np.random.default_rng(0)
    images = [
        write_png(tmp_path / f"i{k}.png", rng.integers(0, 256, (40, 50, 3))) for k in range(3)
    ]
    argv = [
        "cam",
        str(path),
        *map(str, images),
        "--out",
        str(tmp_path / "o"),
        "--method",
        "gradcam++",
        "--class-index",
        "NORMAL",
        "--layer",
        "conv1",
    ]
    assert _cli("_cam", argv) == 0
    printed = capsys.readouterr().out.split()
    assert [Path(p).name for p in printed] == [f"i{k}_gradcampp.png" for k in range(3)]
    assert all(_png(Path(p)).shape == (40, 50, 3) for p in printed)
    with pytest.raises(ConfigError, match="not a class index or name"):
        _cli(
            "_cam",
            ["cam", str(path), str(images[0]), "--out", str(tmp_path), "--class-index", "Cat"],
        )


# --- end to end with the real Trainer and test images ---------------------------------------


@pytest.mark.slow
@pytest.mark.data
def test_report_of_a_real_training_run(cxr3_dir, tmp_path):
    import xraycls

    dataset = xraycls.load_dataset(cxr3_dir)
    train, val, test = dataset.split(seed=0, dedupe=False)
    rng = np.random.default_rng(0)

    def few(d, n):
        idx = [rng.choice(np.flatnonzero(d.labels == c), n, replace=False) for c in range(3)]
        return d.subset(np.sort(np.concatenate(idx)))

    model = xraycls.build_model("simple_cnn", input_shape=(48, 48, 3), width=4, seed=0)
    config = xraycls.TrainConfig(epochs=2, batch_size=8, verbose=0)
    trainer = xraycls.Trainer(model, config, workdir=tmp_path / "run")
    trainer.fit(few(train, 12), few(val, 4))
    trainer.evaluate(few(test, 5))
    page = report(tmp_path / "run", n_cam=2)
    html = page.read_text()
    assert html.count("data:image/png;base64,") == 5, re.findall(r'<div class="note">[^<]*', html)
    for name in (*FIGURES, "cams.png"):
        assert _png(page.parent / name).shape[0] > 200


def test_report_is_callable_as_xraycls_report_after_importing_the_package(full_run, tmp_path):
    import xraycls
    import xraycls.reporting  # must not shadow the function xraycls.report

    page = xraycls.report(full_run[1], tmp_path / "o", n_cam=0)
    assert page.name == "report.html"


def _reproduce_folder(root: Path) -> Path:
    """A hand-made ``reproduce`` output folder: one trained run, one model not trained yet."""
    from xraycls.protocols import ModelResult, ReproductionResult, get_profile

    folder = root / "repro"
    folder.mkdir()
    fake_run_dir(root, gap_dense_model()).rename(folder / "simple_cnn")
    audit = {"flags": [{"code": "cam_outside_lungs", "message": "m", "rule": "r"}]}
    (folder / "simple_cnn" / "audit.json").write_text(json.dumps(audit))
    prof = get_profile("quick").replace(models=("simple_cnn", "xception"))
    row = ModelResult(
        "simple_cnn", 0.31, 0.91, 0.42, 0.87, 0.45, 0.86, 0.93, 0.97, 0.95, 4, 75.0,
        str(folder / "simple_cnn"),
    )  # fmt: skip
    summary = {
        "n": 12, "accuracy": 0.75, "macro_auc": 0.9,
        "sensitivity": {"COVID": 1.0, "Normal": 0.5, "Viral Pneumonia": 0.75},
    }  # fmt: skip
    result = ReproductionResult(
        prof,
        rows=[row],
        splits={"train (balanced)": {"COVID": 40, "Normal": 33, "Viral Pneumonia": 35},
                "val": {"COVID": 2, "Normal": 7, "Viral Pneumonia": 7},
                "test": {"COVID": 2, "Normal": 5, "Viral Pneumonia": 5}},
        by_source={"simple_cnn": {"test": {
            "overall": summary,
            "by_source": {"kids": {**summary, "n": 10, "in_training": True},
                          "armiro": {**summary, "n": 2, "in_training": False,
                                     "sensitivity": {"COVID": 1.0}}},
        }}},
    )  # fmt: skip
    data = json.loads(result.to_json())
    data["data_warnings"] = ["Normal and Viral Pneumonia share one source (kids) <and> no other"]
    (folder / "results.json").write_text(json.dumps(data, indent=2))
    (folder / "results.md").write_text(result.to_markdown())
    (folder / "profile.json").write_text(prof.to_json())
    (folder / "train.csv").write_text("file,label\n")
    return folder


def test_report_of_a_reproduce_folder(tmp_path, capsys):
    from xraycls.cli import main

    folder = _reproduce_folder(tmp_path)
    page = report(folder, data=tmp_path / "data", n_cam=1)
    assert page == folder / "report" / "report.html"
    html = page.read_text(encoding="utf-8")
    # One page: the warning (escaped), the results row linking the model's own page, the
    # per-source table, the splits and the profile.
    assert "share one source (kids) &lt;and&gt; no other" in html
    assert '<a href="../simple_cnn/report/report.html">simple_cnn</a>' in html
    for text in ("0.8600", "0.9300", "1.2", "By source", "armiro", "train (balanced)", "40",
                 "image_size", "shortcut audit flags: cam_outside_lungs",
                 "xception: no run folder"):  # fmt: skip
        assert text in html, text
    assert "<script" not in html and 'id="data-warnings"' in html
    model_page = (folder / "simple_cnn" / "report" / "report.html").read_text()
    assert "Test metrics" in model_page and "cams.png" in model_page
    assert '<a href="../../report/report.html">all models' in model_page  # and back
    # The same through the command line, to another folder: model pages go beside the top page.
    out = tmp_path / "site"
    assert main(["report", str(folder), "--out", str(out), "--n-cam", "0"]) == 0
    assert capsys.readouterr().out.strip() == str(out / "report.html")
    assert 'href="simple_cnn/report.html"' in (out / "report.html").read_text()
    assert (out / "simple_cnn" / "report.html").is_file()


def test_report_of_a_folder_that_is_neither_run_nor_reproduce(tmp_path, capsys):
    from xraycls.cli import main

    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("hello")
    with pytest.raises(ConfigError, match="neither a training run folder"):
        report(tmp_path / "stuff")
    assert main(["report", str(tmp_path / "stuff")]) == 2
    err = capsys.readouterr().err
    assert "neither a training run folder" in err and "reproduce" in err
    assert not (tmp_path / "stuff" / "report").exists()
