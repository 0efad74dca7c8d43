"""The model handle: ModelInfo, as_classifier, and the one prediction loop behind every entry."""

from __future__ import annotations

import csv
import dataclasses
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import xraycls
from _helpers_train import make_image_folder, tiny_model
from xraycls.classifier import Classifier, as_classifier
from xraycls.errors import ConfigError, ModelFileError
from xraycls.zoo import (
    SCHEMA_VERSION,
    ModelInfo,
    load_model,
    load_model_info,
    save_model,
    update_model_info,
)

#: The classes of _helpers_train.make_image_folder, as load_dataset names them.
CLASSES = ("COVID", "Normal", "Viral Pneumonia")


def _calibration() -> xraycls.Calibration:
    """A calibration with a temperature far from 1, so applying it changes every number."""
    from xraycls.calibration import fit_calibration

    y = np.array([0, 1, 2] * 10)
    probs = np.eye(3)[y] * 0.6 + 0.4 / 3
    cal = fit_calibration(probs, y, list(CLASSES), min_images=1, min_per_class=1)
    return dataclasses.replace(cal, temperature=2.5)


@pytest.fixture(scope="module")
def world(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A calibrated model file with a contrast transform, and a small dataset of its classes."""
    root = tmp_path_factory.mktemp("handle")
    model = tiny_model(size=24)
    path = save_model(
        model, root / "m.keras", class_names=list(CLASSES), input_transform={"contrast": "clahe"}
    )
    update_model_info(path, {"calibration": _calibration().to_dict()})
    data = xraycls.load_dataset(make_image_folder(root / "imgs", per_class=3, size=30))
    assert tuple(data.class_names) == CLASSES
    return path, data, root


def _three(path: Path) -> dict[str, object]:
    """The same model as a path, a Classifier and a Keras model (loaded by xraycls)."""
    return {
        "path": path,
        "classifier": Classifier.load(path),
        "keras": load_model(path, compile=False),
    }


def test_as_classifier_gives_one_handle_for_all_three(world) -> None:  # type: ignore[no-untyped-def]
    path, _, _ = world
    handles = {k: as_classifier(v) for k, v in _three(path).items()}
    for clf in handles.values():
        assert clf.class_names == list(CLASSES)
        assert clf.calibration is not None and clf.calibration.temperature == 2.5
        assert clf.input_transform.contrast == "clahe"
        assert clf.info.schema_version == SCHEMA_VERSION
    given = handles["classifier"]
    assert as_classifier(given) is given
    with pytest.raises(ConfigError, match="differ from the dataset's"):
        as_classifier(given, class_names=["a", "b", "c"])
    with pytest.raises(ConfigError, match=r"expected a \.keras path"):
        as_classifier(42)


def test_each_entry_point_takes_path_classifier_or_keras_model_alike(world) -> None:  # type: ignore[no-untyped-def]
    path, data, root = world
    results: dict[str, list[object]] = {}
    for kind, model in _three(path).items():
        rep = xraycls.evaluate(model, data, n_bootstrap=0)
        cal = xraycls.calibrate(model, data, save=False, min_images=1, min_per_class=1)
        rob = xraycls.evaluate_robustness(
            model, data, kinds=["noise"], severities=[1], progress=False, workers=1
        )
        out = root / f"{kind}.csv"
        xraycls.predict_files(model, [str(f) for f in data.files], out, progress=False)
        with out.open(encoding="utf-8") as fh:
            rows = [tuple(r.values()) for r in csv.DictReader(fh)]
        probs = [[p.probabilities[c] for c in CLASSES] for p in rep.predictions]
        results[kind] = [probs, cal.temperature, rob.clean, rows]
    assert results["path"] == results["classifier"] == results["keras"]
    # evaluate applies the stored transform and calibration as Classifier.predict does.
    direct = Classifier.load(path).predict(list(data.files))
    np.testing.assert_allclose(np.asarray(results["path"][0]), direct, rtol=1e-5, atol=1e-6)


def _ellipse_lungs(images: list[np.ndarray]) -> list[np.ndarray]:
    """A fixed lung field per image (the segmenter is not what this test is about)."""
    out = []
    for image in images:
        h, w = image.shape[:2]
        yy, xx = np.mgrid[:h, :w]
        out.append(((yy - h / 2) / (h / 3)) ** 2 + ((xx - w / 2) / (w / 3)) ** 2 <= 1)
    return out


def test_audit_and_export_take_any_of_the_three(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from xraycls.export import load_export_info

    path, data, _ = world
    audits, exports = [], []
    for kind, model in _three(path).items():
        rep = xraycls.audit(
            model, data, lung_masks=_ellipse_lungs, text_remover=lambda im: im, swap_pairs=4
        )
        audits.append([rep.full, rep.border_only, rep.cam_lung_share, rep.lung_swap])
        out = xraycls.export_model(model, tmp_path / kind, format="savedmodel")
        meta = load_export_info(out)
        exports.append([meta["class_names"], meta["calibration"], meta["input"]])
    assert audits[0] == audits[1] == audits[2]
    assert exports[0] == exports[1] == exports[2]
    assert exports[0][1]["temperature"] == 2.5


def test_create_app_takes_any_of_the_three(world) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from xraycls.serve import create_app

    path, _, _ = world
    seen = []
    for model in _three(path).values():
        with TestClient(create_app(model, allowed_hosts=["testserver"])) as client:
            seen.append(client.get("/model").json()["class_names"])
    assert seen == [list(CLASSES)] * 3


def test_every_prediction_goes_through_the_one_loop(world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Count model calls and calls of the loop's forward step: they must be the same."""
    import keras

    from xraycls.classifier import _loop

    path, data, root = world
    calls = {"model": 0, "loop": 0}
    real_predict = keras.Model.predict_on_batch
    real_forward = _loop._forward

    def predict_on_batch(self, x):  # type: ignore[no-untyped-def]
        calls["model"] += 1
        return real_predict(self, x)

    def forward(model, images, rows):  # type: ignore[no-untyped-def]
        calls["loop"] += 1
        return real_forward(model, images, rows)

    monkeypatch.setattr(keras.Model, "predict_on_batch", predict_on_batch)
    monkeypatch.setattr(_loop, "_forward", forward)
    clf = Classifier.load(path)
    clf.predict(list(data.files), batch_size=4)
    clf.predict(list(data.files)[:2], details=True, tta=True)
    xraycls.evaluate(path, data, n_bootstrap=0, batch_size=4)
    xraycls.calibrate(path, data, save=False, min_images=1, min_per_class=1)
    xraycls.evaluate_robustness(path, data, kinds=["noise"], severities=[1], progress=False)
    xraycls.predict_files(path, [str(f) for f in data.files], root / "spy.csv", progress=False)
    assert calls["loop"] > 0
    assert calls["model"] == calls["loop"]


def test_a_file_written_in_the_old_dict_form_still_loads(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """xraycls.json before ModelInfo: no schema_version, no resize, a plain dict."""
    path, _, _ = world
    old = tmp_path / "old.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        for member in src.infolist():
            if member.filename != "xraycls.json":
                dst.writestr(member, src.read(member))
        dst.writestr(
            "xraycls.json",
            json.dumps(
                {
                    "class_names": list(CLASSES),
                    "backbone": "simple_cnn",
                    "input_shape": [24, 24, 3],
                    "xraycls_version": "0.9.0",
                    "input_transform": {"contrast": "clahe"},
                    "calibration": _calibration().to_dict(),
                    "training_data": {"sources": ["kaggle"]},
                    "epoch": 7,  # another tool's key: kept
                }
            ),
        )
    info = load_model_info(old)
    assert info.class_names == CLASSES and info.resize == "pad"
    assert info.input_transform.contrast == "clahe"
    assert info.calibration is not None and info.calibration.temperature == 2.5
    assert info.training_data == {"sources": ["kaggle"]}
    assert info.xraycls_version == "0.9.0" and info.extra == {"epoch": 7}
    assert Classifier.load(old).predict(np.zeros((30, 30), np.uint8)).shape == (1, 3)
    stored = update_model_info(old, {"note": "checked"})
    assert stored["epoch"] == 7 and stored["note"] == "checked"
    assert stored["schema_version"] == SCHEMA_VERSION  # migrated on the first write


def test_model_info_round_trips_and_refuses_a_newer_schema() -> None:
    info = ModelInfo(
        class_names=("a", "b"),
        input_shape=(8, 8, 3),
        resize="crop",
        calibration=None,
        training_data={"n": 3},
        extra={"note": 1},
    )
    assert ModelInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info
    with pytest.raises(ConfigError, match="newer xraycls"):
        ModelInfo.from_dict({**info.to_dict(), "schema_version": SCHEMA_VERSION + 1})
    with pytest.raises(ConfigError, match="resize"):
        ModelInfo(class_names=("a",), resize="zoom")
    with pytest.raises(ConfigError, match="input_shape"):
        ModelInfo.from_dict({"class_names": ["a"], "input_shape": "big"})


def test_a_newer_file_is_refused_with_the_file_named(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, _, _ = world
    newer = tmp_path / "newer.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(newer, "w") as dst:
        for member in src.infolist():
            data = src.read(member)
            if member.filename == "xraycls.json":
                data = json.dumps({**json.loads(data), "schema_version": 99}).encode()
            dst.writestr(member, data)
    with pytest.raises(ModelFileError, match=r"newer\.keras.*schema_version 99"):
        load_model_info(newer)


def test_loop_keeps_errors_pads_nothing_on_tensorflow_and_checks_arguments(world) -> None:  # type: ignore[no-untyped-def]
    path, data, _ = world
    clf = Classifier.load(path)
    items = [str(data.files[0]), "/no/such/file.png", str(data.files[1])]
    parts = list(clf.predict_batches(items, batch_size=2, errors="keep"))
    assert [len(p.items) for p in parts] == [2, 1]
    assert parts[0].errors[0] is None and parts[0].errors[1] is not None
    assert [len(p.probabilities) for p in parts] == [1, 1]
    with pytest.raises(ConfigError, match="batch_size"):
        clf.predict_batches(items, batch_size=0)
    with pytest.raises(ConfigError, match="exactly one"):
        clf.predict_batches(items, batches=[])
    raw = next(iter(clf.predict_batches(items[:1], calibrated=False))).probabilities
    cal = next(iter(clf.predict_batches(items[:1]))).probabilities
    assert clf.calibration is not None
    np.testing.assert_allclose(clf.calibration.probabilities(raw), cal, rtol=1e-6)


def test_write_overlays_takes_any_of_the_three(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from xraycls.explain import write_overlays

    path, data, _ = world
    files = [str(f) for f in data.files[:2]]
    pixels = []
    for kind, model in _three(path).items():
        out = write_overlays(model, files, tmp_path / kind, class_index="Normal")
        pixels.append([xraycls.load_image(p) for p in out])
    for other in pixels[1:]:
        for a, b in zip(pixels[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


def test_one_map_of_what_a_model_carries(world) -> None:  # type: ignore[no-untyped-def]
    """A loaded model carries its ModelInfo; attaching a transform keeps the rest of it."""
    from xraycls.transforms import attach_transform, transform_of
    from xraycls.zoo import info_of

    path, _, _ = world
    model = load_model(path, compile=False)
    info = info_of(model)
    assert info is not None and transform_of(model) is info.input_transform
    attach_transform(model, {"contrast": "equalize"})
    after = info_of(model)
    assert after is not None and after.input_transform.contrast == "equalize"
    assert after.class_names == info.class_names and after.calibration == info.calibration
    assert as_classifier(model).input_transform.contrast == "equalize"
    bare = tiny_model(size=24)
    attach_transform(bare, {"contrast": "clahe"})
    assert info_of(bare) is None and transform_of(bare).contrast == "clahe"
