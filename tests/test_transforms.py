"""Input mitigations: pure, deterministic, dtype-keeping, stored with the model and applied."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from xraycls.errors import ConfigError, ModelFileError
from xraycls.transforms import (
    InputTransform,
    attach_transform,
    clahe,
    detect_text,
    equalize,
    lung_crop,
    remove_text,
    soft_mask,
    transform_of,
)

images = st.one_of(
    arrays(np.uint8, st.tuples(st.integers(8, 40), st.integers(8, 40))),
    arrays(np.uint8, st.tuples(st.integers(8, 40), st.integers(8, 40), st.just(3))),
)


def _film(seed: int = 0, size: int = 256) -> np.ndarray:
    """A smooth, noisy film-like background without any text."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    img = 80 + 60 * np.sin(x / 40) + 40 * (y / size) + rng.normal(0, 5, (size, size))
    return np.clip(img, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- pure functions


@settings(max_examples=25, deadline=None)
@given(image=images)
def test_pixel_transforms_are_deterministic_and_keep_shape_and_dtype(image: np.ndarray) -> None:
    mask = np.zeros(image.shape[:2], bool)
    mask[2:-2, 2:-2] = True
    for fn in (clahe, equalize, remove_text, lambda im: soft_mask(im, mask, 0.3)):
        out = fn(image)
        assert out.dtype == np.uint8 and out.shape == image.shape
        np.testing.assert_array_equal(out, fn(image.copy()))
    crop = lung_crop(image, mask, margin=0.0)
    assert crop.dtype == np.uint8 and crop.shape[2:] == image.shape[2:]
    assert crop.shape[:2] == (image.shape[0] - 4, image.shape[1] - 4)


def test_inputs_are_not_modified_and_gray_rgb_stays_gray() -> None:
    gray = _film()
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    before = rgb.copy()
    for fn in (clahe, equalize):
        out = fn(rgb)
        np.testing.assert_array_equal(out[:, :, 0], fn(gray))
        np.testing.assert_array_equal(out[:, :, 0], out[:, :, 2])
    np.testing.assert_array_equal(rgb, before)


def test_soft_mask_dims_the_outside_and_keeps_the_lungs() -> None:
    img = np.full((100, 100), 200, np.uint8)
    mask = np.zeros((100, 100), bool)
    mask[30:70, 30:70] = True
    out = soft_mask(img, mask, outside=0.0)
    assert (out[mask] == 200).all() and out[0, 0] == 0
    np.testing.assert_array_equal(soft_mask(img, mask, outside=1.0), img)
    # No lung found (mask under 1% of the image): unchanged, no crop.
    empty = np.zeros((100, 100), bool)
    np.testing.assert_array_equal(soft_mask(img, empty, 0.0), img)
    assert lung_crop(img, empty).shape == img.shape
    with pytest.raises(ConfigError, match="outside"):
        soft_mask(img, mask, outside=1.5)
    with pytest.raises(ConfigError, match="does not match"):
        lung_crop(img, np.ones((10, 10), bool))


def test_bad_images_get_clear_errors() -> None:
    with pytest.raises(ConfigError, match="uint8"):
        clahe(np.zeros((8, 8), np.float32))
    with pytest.raises(ConfigError, match=r"\(H, W\)"):
        equalize(np.zeros((8, 8, 4), np.uint8))


# ---------------------------------------------------------------- text and markers


def test_detect_text_finds_planted_text_and_markers() -> None:
    clean = _film()
    img = clean.copy()
    cv2.putText(img, "PORTABLE", (20, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 255, 1, cv2.LINE_AA)
    cv2.putText(img, "L", (215, 240), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 250, 2)
    cv2.arrowedLine(img, (150, 120), (170, 100), 255, 2, tipLength=0.4)  # an arrow
    core = (img.astype(int) - clean) > 100  # the strokes themselves, not their faint rim
    found = detect_text(img)
    assert found.dtype == bool and found.shape == img.shape
    assert (found & core).sum() / core.sum() > 0.9
    # Every changed pixel, faint anti-aliased rims on bright background included.
    drawn = (img.astype(int) - clean) > 30
    near = cv2.dilate(drawn.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert (found & ~near).sum() == 0, "detections away from the planted text"


def test_detect_text_has_few_false_positives_on_plain_images() -> None:
    gradient = np.tile(np.linspace(0, 255, 300).astype(np.uint8), (200, 1))
    assert detect_text(gradient).mean() == 0
    assert detect_text(_film(seed=3)).mean() < 0.001
    assert not detect_text(np.zeros((50, 50, 3), np.uint8)).any()


def test_remove_text_paints_the_text_away() -> None:
    clean = _film()
    img = clean.copy()
    cv2.putText(img, "AP ERECT", (30, 200), cv2.FONT_HERSHEY_SIMPLEX, 0.7, 255, 2)
    core = (img.astype(int) - clean) > 100
    out = remove_text(img)
    before = np.abs(img.astype(int) - clean)[core].mean()
    after = np.abs(out.astype(int) - clean)[core].mean()
    assert after < 0.25 * before
    rgb = np.repeat(img[:, :, None], 3, axis=2)
    assert remove_text(rgb).shape == rgb.shape


# ---------------------------------------------------------------- InputTransform as data


def test_input_transform_round_trips_and_validates() -> None:
    t = InputTransform(lung_crop=True, crop_margin=0.2, soft_mask=0.3, contrast="clahe")
    assert InputTransform.from_json(t.to_json()) == t
    assert InputTransform.from_dict(json.loads(json.dumps(t.to_dict()))) == t
    assert InputTransform.from_dict(None) == InputTransform() == InputTransform.from_dict({})
    assert InputTransform().is_identity and not t.is_identity
    for bad, where in (
        ({"contrast": "gamma"}, "contrast"),
        ({"soft_mask": 2}, "soft_mask"),
        ({"crop_margin": -1}, "crop_margin"),
        ({"lung_crop": "yes"}, "lung_crop"),
        ({"remove_text": 1}, "remove_text"),
        ({"colour": True}, "unknown key .colour."),
    ):
        with pytest.raises(ConfigError, match=where):
            InputTransform.from_dict(bad)
    with pytest.raises(ConfigError, match="JSON"):
        InputTransform.from_json("{not json")


def test_apply_is_pure_and_identity_is_a_no_op() -> None:
    img = _film()
    assert InputTransform().apply(img) is img
    t = InputTransform(contrast="equalize", remove_text=True)
    np.testing.assert_array_equal(t.apply(img), t.apply(img.copy()))
    np.testing.assert_array_equal(t.apply(img), equalize(remove_text(img)))


def test_train_config_carries_the_transform() -> None:
    from xraycls.train import TrainConfig

    cfg = TrainConfig(input_transform=InputTransform(contrast="clahe"))
    assert cfg.input_transform == InputTransform(contrast="clahe").to_dict()
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ConfigError, match="contrast"):
        TrainConfig(input_transform={"contrast": "gamma"})


# ---------------------------------------------------------------- stored with the model


def _brightness_model():  # type: ignore[no-untyped-def]
    """Predicts "bright" when the mean pixel exceeds 64, else "dark"."""
    import keras

    inp = keras.Input((16, 16, 3))
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inp))
    model = keras.Model(inp, out, name="brightness")
    k, b = 0.05, 9.6  # logit difference 6*k*mean - 2*b changes sign at mean = 64
    model.layers[-1].set_weights([np.array([[k, -k]] * 3, np.float32), np.array([-b, b])])
    return model


def _dim_ramp() -> np.ndarray:
    return np.tile(np.linspace(0, 60, 48).astype(np.uint8), (32, 1))  # mean 30: "dark"


def test_saved_transform_is_applied_by_classifier_pipeline_and_cam(tmp_path: Path) -> None:
    from xraycls.data import make_tf_dataset
    from xraycls.explain import load_images
    from xraycls.predict import Classifier
    from xraycls.zoo import load_model, load_model_info, save_model

    names = ["bright", "dark"]
    plain = save_model(_brightness_model(), tmp_path / "plain.keras", class_names=names)
    eq = InputTransform(contrast="equalize")
    stored = save_model(
        _brightness_model(), tmp_path / "eq.keras", class_names=names, input_transform=eq
    )
    assert "input_transform" not in load_model_info(plain).to_dict()
    assert load_model_info(stored).to_dict()["input_transform"] == eq.to_dict()
    assert transform_of(load_model(stored)) == eq

    ramp = _dim_ramp()
    path = tmp_path / "ramp.png"
    assert cv2.imwrite(os.fspath(path), ramp)
    # Without the transform the image is dark; the stored equalisation makes it bright.
    assert Classifier.load(plain).predict_labels([ramp, path]) == ["dark", "dark"]
    assert Classifier.load(stored).predict_labels([ramp, path]) == ["bright", "bright"]
    # A model that was saved with it carries it into a re-save (checkpoints of a trained model).
    resaved = save_model(load_model(stored), tmp_path / "again.keras", class_names=names)
    assert load_model_info(resaved).to_dict()["input_transform"] == eq.to_dict()

    # The tf.data pipeline and CAM loading read the image through the same transform.
    batch = next(
        iter(make_tf_dataset([path], [0], 2, batch_size=1, image_size=16, input_transform=eq))
    )[0]
    assert float(np.max(batch)) > 200  # the file's brightest pixel is 60
    cam_batch, originals = load_images([path], load_model(stored))
    np.testing.assert_array_equal(originals[0][:, :, 0], equalize(ramp))
    assert float(cam_batch.max()) > 200


def test_evaluate_applies_the_stored_transform(tmp_path: Path) -> None:
    from xraycls.data import load_dataset
    from xraycls.evaluation import evaluate
    from xraycls.zoo import load_model, save_model

    root = tmp_path / "data" / "COVID-19 Radiography Database"
    for name, count in (("bright", 4), ("dark", 1)):
        (root / name).mkdir(parents=True)
        for i in range(count):
            assert cv2.imwrite(os.fspath(root / name / f"{name} ({i + 1}).png"), _dim_ramp())
    data = load_dataset(tmp_path / "data")
    names = list(data.class_names)
    assert names == ["bright", "dark"]
    eq = InputTransform(contrast="equalize")
    plain = load_model(save_model(_brightness_model(), tmp_path / "p.keras", class_names=names))
    stored = load_model(
        save_model(_brightness_model(), tmp_path / "s.keras", class_names=names, input_transform=eq)
    )
    assert evaluate(plain, data, n_bootstrap=10).accuracy.value == pytest.approx(0.2)
    assert evaluate(stored, data, n_bootstrap=10).accuracy.value == pytest.approx(0.8)


def test_attached_transform_and_invalid_stored_transform(tmp_path: Path) -> None:
    import zipfile

    from xraycls.zoo import load_model, save_model

    model = attach_transform(_brightness_model(), {"contrast": "clahe"})
    assert transform_of(model).contrast == "clahe"
    assert transform_of(object()) == InputTransform()
    path = save_model(model, tmp_path / "m.keras", class_names=["a", "b"])
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    info = json.loads(members["xraycls.json"])
    info["input_transform"] = {"contrast": "sepia"}
    members["xraycls.json"] = json.dumps(info).encode()
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(bad, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ModelFileError, match="input_transform"):
        load_model(bad)


# ---------------------------------------------------------------- on real films


@pytest.mark.data
def test_lung_crop_and_mask_on_real_films(cxr3_dir: Path) -> None:
    from xraycls.io import load_image

    files = sorted((cxr3_dir / "COVID-19 Radiography Database" / "NORMAL").glob("*.png"))[:3]
    t = InputTransform(lung_crop=True, soft_mask=0.3, contrast="clahe", remove_text=True)
    for f in files:
        img = load_image(f)
        out = t.apply(img)
        assert out.dtype == np.uint8 and out.shape[2] == 3
        # The crop removes some of the film but keeps most of it (lungs fill a chest film).
        assert 0.2 < out.shape[0] * out.shape[1] / (img.shape[0] * img.shape[1]) < 1.0
        np.testing.assert_array_equal(out, t.apply(img))


def test_trained_checkpoints_carry_the_config_transform(tmp_path: Path) -> None:
    from _helpers_train import arrays, tiny_model
    from xraycls.train import TrainConfig, Trainer
    from xraycls.zoo import load_model_info

    cfg = TrainConfig(epochs=1, batch_size=8, verbose=0, input_transform={"contrast": "clahe"})
    trainer = Trainer(tiny_model(), cfg, workdir=tmp_path)
    trainer.fit(arrays(8), arrays(8, seed=1))
    for name in ("best.keras", "last.keras"):
        stored = load_model_info(tmp_path / name).to_dict()["input_transform"]
        assert InputTransform.from_dict(stored) == InputTransform(contrast="clahe")
    assert transform_of(trainer.model).contrast == "clahe"


def test_transform_memo_is_bounded_by_bytes(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The memo of transformed images holds at most _MEMO_BYTES (full-size films are 100x
    # cxr3's): the least recently used results go first, a result larger than the bound is
    # not kept, and a hit returns the same pixels as a fresh run.
    from cachetools import LRUCache

    import xraycls.transforms._input as module

    small = LRUCache(3 * 64 * 64, getsizeof=lambda a: a.nbytes)
    monkeypatch.setattr(module, "_memo", small)
    monkeypatch.setattr(module, "_MEMO_BYTES", 3 * 64 * 64)
    t = module.InputTransform(contrast="clahe")
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (64, 64), dtype=np.uint8) for _ in range(4)]
    first = t.apply_many(images)
    assert len(small) == 3 and small.currsize <= 3 * 64 * 64
    again = t.apply_many(images[-1:])
    assert np.array_equal(again[0], first[-1])
    t.apply(rng.integers(0, 256, (128, 128), dtype=np.uint8))  # 16 KiB > the bound
    assert small.currsize <= 3 * 64 * 64
