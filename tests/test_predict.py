"""Classifier: load a saved model, predict files, folders and arrays like the training pipeline."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from _helpers_train import make_image_folder, tiny_model
from xraycls.errors import ConfigError, ImageReadError, ModelFileError
from xraycls.predict import Classifier, expand_paths

NAMES = ["COVID", "Normal", "Viral Pneumonia"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from xraycls.zoo import save_model

    root = tmp_path_factory.mktemp("pred")
    model = tiny_model()
    path = save_model(model, root / "model.keras", class_names=NAMES)
    return model, path, make_image_folder(root / "imgs", per_class=3)


def test_load_and_predict_files_like_the_pipeline(saved) -> None:  # type: ignore[no-untyped-def]
    from xraycls.data import load_dataset

    model, path, images = saved
    clf = Classifier.load(path)
    assert clf.class_names == NAMES and clf.image_size == (32, 32)
    ds = load_dataset(images)
    probs = clf.predict([str(f) for f in ds.files], batch_size=4)
    expected = np.concatenate(
        [model.predict_on_batch(x) for x, _ in ds.to_tf_dataset(batch_size=5, image_size=32)]
    )
    assert probs.shape == (len(ds), 3)
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_folder_labels_and_table(saved) -> None:  # type: ignore[no-untyped-def]
    _, path, images = saved
    clf = Classifier.load(path)
    files = expand_paths([images])
    assert len(files) == 9 and files == sorted(files)
    table = clf.predict_table(images, progress=True)
    labels = clf.predict_labels(files)
    assert [row["file"] for row in table] == files
    assert [row["label"] for row in table] == labels
    row = table[0]
    assert set(row) == {"file", "label", "probability", *NAMES}
    assert row["probability"] == max(row[n] for n in NAMES)


def test_arrays_gray_rgba_and_batches(saved) -> None:  # type: ignore[no-untyped-def]
    from xraycls.io import load_image

    _, path, images = saved
    clf = Classifier.load(path)
    file = expand_paths([images])[0]
    rgb = load_image(file)
    gray = cv2.imread(file, cv2.IMREAD_GRAYSCALE)
    rgba = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=2)
    p_file = clf.predict(file)
    for arr in (rgb, gray, rgba):
        np.testing.assert_allclose(clf.predict(arr), p_file, rtol=1e-5, atol=1e-6)
    batch = np.stack([rgb, rgb])
    assert clf.predict(batch).shape == (2, 3)
    mixed = clf.predict_table([file, rgb])
    assert mixed[0]["file"] == file and mixed[1]["file"] is None
    assert clf.predict([]).shape == (0, 3)


def test_errors_name_the_problem(saved, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, path, _ = saved
    clf = Classifier.load(path)
    with pytest.raises(ImageReadError, match=r"missing\.png"):
        clf.predict(str(tmp_path / "missing.png"))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ImageReadError, match=r"bad\.png"):
        clf.predict([str(bad)])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no image"):
        clf.predict(str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="image array"):
        clf.predict(np.zeros((2, 3, 4, 5, 6)))
    with pytest.raises(ModelFileError):
        Classifier.load(tmp_path / "nothing.keras")
    with pytest.raises(ConfigError, match="class names"):
        Classifier(tiny_model(), ["a", "b"])
    assert "32x32" in repr(clf)
