"""Export to SavedModel, ONNX and TFLite: same probabilities as Keras, metadata beside."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _helpers_serve import NAMES, real_images, saved_tiny_model
from xraycls.errors import ConfigError, ModelFileError
from xraycls.export import export_model, load_export_info, sidecar_path


@pytest.fixture(scope="module")
def model_and_images(tmp_path_factory, cxr3_dir):  # type: ignore[no-untyped-def]
    """A tiny calibrated model and 16 real cxr3 images prepared as the Classifier does."""
    from xraycls.calibration import Calibration
    from xraycls.predict import Classifier
    from xraycls.zoo import update_model_info

    root = tmp_path_factory.mktemp("export")
    path = saved_tiny_model(root / "m.keras")
    update_model_info(path, {"calibration": Calibration(temperature=1.7, threshold=0.3).to_dict()})
    update_model_info(path, {"site": "ward 3"})  # other keys of the model file travel too
    clf = Classifier.load(path)
    files = [f for f, _ in real_images(cxr3_dir, 6)][:16]
    batch = np.stack([clf.prepare(f) for f in files]).astype(np.float32)
    expected = np.asarray(clf.model.predict(batch, verbose=0))
    return root, path, batch, expected


def _check_metadata(meta: dict, fmt: str) -> None:  # type: ignore[type-arg]
    assert meta["format"] == fmt and meta["class_names"] == NAMES
    assert meta["input"]["shape"] == [None, 32, 32, 3] and meta["input"]["range"] == [0, 255]
    assert meta["resize"] == "pad" and "letterbox" in meta["preprocessing"]
    assert meta["calibration"]["temperature"] == pytest.approx(1.7)
    assert meta["site"] == "ward 3"


@pytest.mark.data
def test_onnx_matches_keras_in_onnxruntime(model_and_images) -> None:  # type: ignore[no-untyped-def]
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    root, path, batch, expected = model_and_images
    out = export_model(path, root / "m.onnx", format="onnx")
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: batch})[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    _check_metadata(load_export_info(out), "onnx")
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(props["xraycls"])["class_names"] == NAMES


@pytest.mark.data
def test_savedmodel_matches_keras(model_and_images) -> None:  # type: ignore[no-untyped-def]
    import tensorflow as tf

    root, path, batch, expected = model_and_images
    out = export_model(path, root / "sm", format="savedmodel")
    assert sidecar_path(out) == out / "xraycls.json"
    loaded = tf.saved_model.load(str(out))
    got = np.asarray(loaded.serve(tf.constant(batch)))
    np.testing.assert_allclose(got, expected, atol=1e-4)
    _check_metadata(load_export_info(out), "savedmodel")
    export_model(path, root / "sm", format="savedmodel")  # replacing an export works
    assert not [p for p in root.iterdir() if p.name.startswith(".")]


@pytest.mark.data
def test_tflite_matches_keras(model_and_images) -> None:  # type: ignore[no-untyped-def]
    import tensorflow as tf

    root, path, batch, expected = model_and_images
    out = export_model(path, root / "m.tflite", format="tflite")
    interp = tf.lite.Interpreter(model_path=str(out))
    inp, outp = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.resize_tensor_input(inp["index"], batch.shape)
    interp.allocate_tensors()
    interp.set_tensor(inp["index"], batch)
    interp.invoke()
    got = interp.get_tensor(outp["index"])
    np.testing.assert_allclose(got, expected, atol=1e-4)
    _check_metadata(load_export_info(out), "tflite")


def test_bad_requests_are_clear(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = saved_tiny_model(tmp_path / "m.keras")
    with pytest.raises(ConfigError, match=r"must end with '\.onnx'"):
        export_model(path, tmp_path / "m.bin", format="onnx")
    with pytest.raises(ConfigError, match="not one of"):
        export_model(path, tmp_path / "m.onnx", format="coreml")
    with pytest.raises(ConfigError, match="folder"):
        export_model(path, tmp_path / "m.pb", format="savedmodel")
    with pytest.raises(ModelFileError, match="does not exist"):
        export_model(tmp_path / "none.keras", tmp_path / "m.tflite", format="tflite")
    with pytest.raises(ModelFileError, match="missing"):
        load_export_info(tmp_path / "m.tflite")


def test_read_export_info_is_deprecated_and_still_works(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from xraycls.export import read_export_info

    side = sidecar_path(tmp_path / "m.tflite")
    side.write_text('{"format": "tflite", "class_names": ["a", "b"]}', encoding="utf-8")
    with pytest.warns(
        DeprecationWarning, match="read_export_info is deprecated; use load_export_info"
    ):
        old = read_export_info(tmp_path / "m.tflite")
    assert old == {"format": "tflite", "class_names": ["a", "b"]}
    assert old == load_export_info(tmp_path / "m.tflite")


def _tree(folder):  # type: ignore[no-untyped-def]
    import hashlib

    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_export_refuses_a_folder_or_file_it_did_not_write(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from xraycls.cli import main

    path = saved_tiny_model(tmp_path / "m.keras")
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.keras").write_bytes(path.read_bytes())
    (run / "history.csv").write_text("epoch,loss\n0,1.0\n")
    (run / "notes.txt").write_text("my notes\n")
    before = _tree(run)
    with pytest.raises(ConfigError, match="not an earlier savedmodel export"):
        export_model(path, run, format="savedmodel")
    assert main(["export", str(path), "--format", "savedmodel", "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert str(run) in err and "Traceback" not in err
    assert _tree(run) == before
    notes = tmp_path / "notes.onnx"
    notes.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="not an earlier"):
        export_model(path, notes, format="onnx")
    (tmp_path / "m.tflite.json").write_text('{"mine": 1}')  # a user's file where the side-car goes
    with pytest.raises(ConfigError, match="not an earlier"):
        export_model(path, tmp_path / "m.tflite", format="tflite")
    assert notes.read_bytes() == b"not a model"
    # an empty folder is fine, and so is replacing an earlier export of the same kind
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export_model(path, empty, format="savedmodel") == empty
    assert load_export_info(empty)["format"] == "savedmodel"
    export_model(path, empty, format="savedmodel")


def test_safe_mode_names_a_tfsmlayer_not_a_lambda(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import keras

    from xraycls.errors import XrayclsError
    from xraycls.zoo import load_model, save_model

    path = saved_tiny_model(tmp_path / "m.keras")
    exported = export_model(path, tmp_path / "sm", format="savedmodel")
    inp = keras.Input((32, 32, 3))
    wrapped = keras.Model(inp, keras.layers.TFSMLayer(str(exported), call_endpoint="serve")(inp))
    target = save_model(wrapped, tmp_path / "wrapped.keras", class_names=NAMES)
    with pytest.raises(XrayclsError, match="safe mode") as info:
        load_model(target)
    message = info.value.cli_message()
    assert "TFSMLayer" in message and "Lambda" not in message and "--unsafe" in message
