"""The model file: save/load round trip, metadata, safe mode, corrupt and missing files."""

from __future__ import annotations

import json
import os
import zipfile

import keras
import numpy as np
import pytest

import xraycls
from xraycls.errors import ConfigError, ModelFileError
from xraycls.zoo import load_model, load_model_info, read_model_info, save_model

CLASSES = ["COVID", "NORMAL", "Viral Pneumonia"]


def test_round_trip_predictions_equal(tiny_cnn, tmp_path):
    path = save_model(tiny_cnn, tmp_path / "sub" / "best.keras", class_names=CLASSES)
    assert path == tmp_path / "sub" / "best.keras" and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["best.keras"]  # no temp file left
    loaded = load_model(path)
    x = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(loaded(x, training=False)), np.asarray(tiny_cnn(x, training=False)), rtol=1e-6
    )
    assert loaded.name == "simple_cnn"
    assert isinstance(loaded.get_layer("preprocess"), xraycls.zoo.Preprocess)
    assert loaded.get_layer("preprocess").mode == "tf"


def test_load_model_info(tiny_cnn, tmp_path):
    path = save_model(tiny_cnn, tmp_path / "m.keras", class_names=CLASSES, extra={"epoch": 3})
    info = load_model_info(path).to_dict()
    assert info == {
        "class_names": CLASSES,
        "backbone": "simple_cnn",
        "input_shape": [16, 16, 3],
        "resize": "pad",
        "schema_version": xraycls.zoo.SCHEMA_VERSION,
        "xraycls_version": xraycls.__version__,
        "epoch": 3,
    }
    with zipfile.ZipFile(path) as archive:
        assert {"config.json", "model.weights.h5", "xraycls.json"} <= set(archive.namelist())
        assert json.loads(archive.read("xraycls.json"))["backbone"] == "simple_cnn"


def test_read_model_info_is_deprecated_and_still_works(tiny_cnn, tmp_path):
    path = save_model(tiny_cnn, tmp_path / "m.keras", class_names=CLASSES, extra={"epoch": 3})
    with pytest.warns(
        DeprecationWarning, match="read_model_info is deprecated; use load_model_info"
    ):
        old = read_model_info(path)
    assert old == load_model_info(path).to_dict()
    assert old["class_names"] == CLASSES and old["epoch"] == 3
    assert xraycls.read_model_info is read_model_info


def test_compiled_model_round_trip(tmp_path):
    model = xraycls.build_model("simple_cnn", num_classes=2, input_shape=(16, 16, 3), width=2)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(1).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    model.train_on_batch(x, np.eye(2)[[0, 1, 0, 1]])
    loaded = load_model(save_model(model, tmp_path / "c.keras", class_names=["a", "b"]))
    assert loaded.optimizer is not None and loaded.optimizer.iterations.numpy() == 1
    assert getattr(load_model(tmp_path / "c.keras", compile=False), "optimizer", None) is None


def test_overwrite_is_atomic(tiny_cnn, tmp_path, monkeypatch):
    path = save_model(tiny_cnn, tmp_path / "m.keras", class_names=CLASSES)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save", crash)
    with pytest.raises(ModelFileError, match="disk full"):
        save_model(tiny_cnn, path, class_names=CLASSES)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.keras"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"class_names": ["a", "b"]}, "outputs 3 classes"),
        ({"class_names": ["a", "a", "b"]}, "unique"),
        ({"class_names": "abc"}, "sequence of strings"),
        ({"class_names": CLASSES, "extra": {"backbone": "x"}}, "reserved"),
        ({"class_names": CLASSES, "extra": {"f": object()}}, "JSON"),
    ],
)
def test_save_validates(tiny_cnn, tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        save_model(tiny_cnn, tmp_path / "m.keras", **kwargs)
    assert not list(tmp_path.iterdir())


def test_save_needs_keras_suffix(tiny_cnn, tmp_path):
    with pytest.raises(ConfigError, match=r"\.keras"):
        save_model(tiny_cnn, tmp_path / "m.h5", class_names=CLASSES)


def test_safe_mode_refuses_lambda(tmp_path):
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(outputs))
    path = save_model(model, tmp_path / "lambda.keras", class_names=["a", "b"])
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    assert "safe_mode=False" in str(info.value) and "lambda.keras" in str(info.value)
    loaded = load_model(path, safe_mode=False)
    assert loaded.output.shape == (None, 2)


def test_missing_and_corrupt_files(tmp_path, tiny_cnn):
    missing = tmp_path / "nope.keras"
    for func in (load_model, load_model_info):
        with pytest.raises(ModelFileError, match=r"nope.keras.*does not exist"):
            func(missing)
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"this is not a zip archive")
    for func in (load_model, load_model_info):
        with pytest.raises(ModelFileError, match=r"corrupt.keras.*corrupt"):
            func(corrupt)
    # a valid zip with broken Keras content
    broken = tmp_path / "broken.keras"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("config.json", "{not json")
    with pytest.raises(ModelFileError, match=r"broken.keras.*could not be loaded"):
        load_model(broken)
    # a plain Keras file has no xraycls.json
    plain = tmp_path / "plain.keras"
    tiny_cnn.save(plain)
    with pytest.raises(ModelFileError, match=r"not written by xraycls.save_model"):
        load_model_info(plain)
    assert load_model(plain).name == "simple_cnn"
