"""Tests of xraycls.explain: CAM methods, target layers, nested backbones, overlays."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _helpers_explain import (
    gap_dense_model,
    nested_model,
    paper_head_model,
    train_quadrant_model,
    write_png,
)
from xraycls.errors import ConfigError
from xraycls.explain import cam, find_target_layer, load_images, overlay, write_overlays
from xraycls.imaging import fit_image as fit
from xraycls.imaging import unfit


@pytest.fixture(scope="module")
def gap_model():
    return gap_dense_model()


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3)).astype(np.uint8)


@pytest.fixture(scope="module")
def quadrant():
    return train_quadrant_model()


def _quadrant_mass(heat: np.ndarray, labels: np.ndarray, wrong: bool = False) -> float:
    q = heat.shape[1] // 2
    fractions = []
    for h, label in zip(heat, labels, strict=True):
        top_left = (label == 0) != wrong
        part = h[:q, :q] if top_left else h[q:, q:]
        fractions.append(part.sum() / max(h.sum(), 1e-12))
    return float(np.mean(fractions))


def test_gradcam_equals_cam_on_gap_dense_head(gap_model, images):
    a = cam(gap_model, images, method="cam")
    b = cam(gap_model, images, method="gradcam")
    assert a.shape == b.shape == (6, 32, 32)
    assert a.max() == pytest.approx(1.0)
    assert np.abs(a - b).max() < 1e-4


def test_gradcam_equals_cam_for_explicit_classes(gap_model, images):
    classes = [0, 1, 2, 2, 1, 0]
    a = cam(gap_model, images, class_index=classes, method="cam")
    b = cam(gap_model, images, class_index=classes, method="gradcam")
    assert np.abs(a - b).max() < 1e-4
    # Explaining another class gives another map.
    c = cam(gap_model, images, class_index=[(k + 1) % 3 for k in classes], method="gradcam")
    assert np.abs(b - c).max() > 0.05


def test_trained_model_looks_at_the_deciding_quadrant(quadrant):
    model, x, y = quadrant
    assert (model.predict(x, verbose=0).argmax(1) == y).mean() >= 0.9
    for method in ("gradcam", "gradcam++", "cam", "scorecam"):
        heat = cam(model, x, class_index=y, method=method)
        right = _quadrant_mass(heat, y)
        assert right > 0.5, (method, right)
        assert right > 3 * _quadrant_mass(heat, y, wrong=True), method


def test_predicted_class_is_default(quadrant):
    model, x, _ = quadrant
    predicted = model.predict(x, verbose=0).argmax(1)
    np.testing.assert_allclose(cam(model, x), cam(model, x, class_index=predicted), atol=1e-6)


def test_batched_equals_one_by_one(quadrant):
    model, x, _ = quadrant
    batched = cam(model, x[:5], method="gradcam++")
    single = np.stack([cam(model, img, method="gradcam++")[0] for img in x[:5]])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_cam_method_refuses_the_paper_head():
    model = paper_head_model()
    with pytest.raises(ConfigError, match="gradcam") as err:
        cam(model, np.zeros((1, 32, 32, 3), np.uint8), method="cam")
    assert "head_dense" in str(err.value) and "head_bn" in str(err.value)
    heat = cam(model, np.full((2, 32, 32, 3), 100, np.uint8), method="gradcam")
    assert heat.shape == (2, 32, 32) and np.isfinite(heat).all()


def test_zero_gradient_gives_zero_map(gap_model, images):
    dense = gap_model.get_layer("predictions")
    saved = [w.copy() for w in dense.get_weights()]
    try:
        dense.set_weights([np.zeros_like(w) for w in saved])
        for method in ("gradcam", "gradcam++", "cam"):
            heat = cam(gap_model, images, method=method)
            assert not np.isnan(heat).any()
            assert (heat == 0).all(), method
        # Score-CAM has no gradient: equal scores give equal weights, still a finite map.
        assert np.isfinite(cam(gap_model, images, method="scorecam")).all()
    finally:
        dense.set_weights(saved)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 5),
    size=st.sampled_from([8, 12, 16, 24]),
    method=st.sampled_from(["gradcam", "gradcam++", "cam", "scorecam"]),
    dtype=st.sampled_from(["uint8", "float32"]),
    seed=st.integers(0, 2**16),
)
def test_any_batch_and_input_size(n, size, method, dtype, seed):
    model = _model_of_size(size)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, size, size, 3)).astype(dtype)
    heat = cam(model, x, method=method)
    assert heat.shape == (n, size, size)
    assert heat.dtype == np.float32
    assert not np.isnan(heat).any()
    assert heat.min() >= 0.0 and heat.max() <= 1.0


_MODELS: dict[int, object] = {}


def _model_of_size(size: int):
    if size not in _MODELS:
        _MODELS[size] = gap_dense_model(size=size, width=2)
    return _MODELS[size]


def test_single_hwc_image(gap_model, images):
    heat = cam(gap_model, images[0])
    assert heat.shape == (1, 32, 32)
    np.testing.assert_allclose(heat[0], cam(gap_model, images[:1])[0], atol=1e-6)


@pytest.mark.parametrize("pool_inside", [True, False])
def test_nested_backbone(pool_inside, images):
    model = nested_model(pool_inside=pool_inside)
    assert find_target_layer(model) == "backbone/bb_out"
    a = cam(model, images, method="gradcam")
    b = cam(model, images, method="cam")  # GAP + Dense across the nesting boundary
    assert a.shape == (6, 32, 32)
    assert np.abs(a - b).max() < 1e-4


def test_layer_override_and_paths(images):
    model = nested_model()
    default = cam(model, images)
    by_path = cam(model, images, layer="backbone/bb_out")
    by_bare_name = cam(model, images, layer="bb_out")
    np.testing.assert_allclose(default, by_path, atol=1e-6)
    np.testing.assert_allclose(default, by_bare_name, atol=1e-6)
    earlier = cam(model, images, layer="backbone/bb_conv1")
    assert earlier.shape == (6, 32, 32) and np.abs(earlier - default).max() > 0.05


def test_layer_override_flat(gap_model, images):
    assert find_target_layer(gap_model) == "conv2_act"
    heat = cam(gap_model, images, layer="conv1")
    assert heat.shape == (6, 32, 32) and heat.max() == pytest.approx(1.0)


def test_unknown_layer_names_close_matches(images):
    with pytest.raises(ConfigError) as err:
        cam(nested_model(), images, layer="bb_conv")
    msg = str(err.value)
    assert "bb_conv" in msg and "backbone/bb_conv1" in msg and "backbone/bb_out" in msg


def test_layer_without_4d_output(gap_model, images):
    with pytest.raises(ConfigError, match="4D"):
        cam(gap_model, images, layer="head_pool")


def test_layer_bypassed_by_skip_connection(images):
    with pytest.raises(ConfigError, match="skip connection"):
        cam(nested_model(), images, layer="backbone/bb_conv3")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "lime"}, "method"),
        ({"method": "scorecam", "chunk": 0}, "chunk"),
        ({"class_index": 3}, "out of range"),
        ({"class_index": [0, 1]}, "one per image"),
        ({"class_index": 0.5}, "class_index"),
    ],
)
def test_bad_arguments(gap_model, images, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        cam(gap_model, images, **kwargs)


def test_bad_images(gap_model):
    with pytest.raises(ConfigError, match="64x64"):
        cam(gap_model, np.zeros((1, 64, 64, 3), np.uint8))
    with pytest.raises(ConfigError, match="shape"):
        cam(gap_model, np.zeros((1, 32, 32), np.uint8))
    bad = np.zeros((1, 32, 32, 3), np.float32)
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        cam(gap_model, bad)


def test_overlay_colours_and_blend():
    img = np.full((2, 20, 30, 3), 100, np.uint8)
    heat = np.zeros((2, 20, 30), np.float32)
    heat[:, :10] = 1.0
    out = overlay(img, heat, alpha=0.5)
    assert out.shape == (2, 20, 30, 3) and out.dtype == np.uint8
    hot, cold = out[0, 0, 0], out[0, 15, 0]
    # jet: 1.0 is dark red, 0.0 dark blue; the result must be RGB, not OpenCV's BGR.
    assert hot[0] > hot[2] and cold[2] > cold[0]
    np.testing.assert_array_equal(overlay(img, heat, alpha=0.0), img)


def test_overlay_stretches_small_maps_and_single_image():
    img = np.zeros((40, 60, 3), np.uint8)
    out = overlay(img, np.ones((8, 8), np.float32), colormap="inferno")
    assert out.shape == (40, 60, 3)
    with pytest.raises(ConfigError, match="colormap"):
        overlay(img, np.ones((8, 8)), colormap="nope")
    with pytest.raises(ConfigError, match="heat"):
        overlay(np.zeros((2, 8, 8, 3)), np.ones((3, 8, 8)))


@pytest.mark.parametrize("mode", ["pad", "stretch", "crop"])
def test_cam_input_is_the_training_input(tmp_path, gap_model, mode):
    # One read-and-fit function: CAM sees exactly the pixels the input pipeline fed training,
    # "crop" included (the CAM copy of the letterbox once lacked it).
    pipeline = pytest.importorskip("xraycls.pipeline._tf")
    import cv2

    img = np.random.default_rng(1).integers(0, 256, (50, 80, 3)).astype(np.uint8)
    path = str(tmp_path / "wide.png")
    cv2.imwrite(path, img)
    ours, _ = load_images([path], gap_model, resize=mode)
    size = gap_model.inputs[0].shape[1:3]
    ds = pipeline.make_tf_dataset([path], [0], 1, batch_size=1, image_size=tuple(size), resize=mode)
    theirs = next(iter(ds))[0].numpy()
    np.testing.assert_array_equal(ours, theirs)


def test_crop_map_lands_on_the_cropped_part():
    _, box = fit(np.zeros((50, 80, 3), np.uint8), 32, 32, "crop")
    back = unfit(np.ones((32, 32), np.float32), box, (50, 80, 3))
    assert back.shape == (50, 80)
    assert back[:, 15:65].min() > 0.99 and back[:, :15].max() == 0 and back[:, 65:].max() == 0


def test_write_overlays_from_files(tmp_path, gap_model):
    rng = np.random.default_rng(3)
    paths = [
        write_png(tmp_path / "a" / "x.png", rng.integers(0, 256, (48, 64, 3))),
        write_png(tmp_path / "b" / "x.png", rng.integers(0, 256, (32, 32, 3))),
        write_png(tmp_path / "c.png", rng.integers(0, 256, (70, 40, 3))),
    ]
    batch, originals = load_images(paths, gap_model)
    assert batch.shape == (3, 32, 32, 3) and originals[0].shape == (48, 64, 3)
    out = write_overlays(gap_model, paths, tmp_path / "out", batch_size=2, method="gradcam++")
    assert [p.name for p in out] == ["x_gradcampp.png", "x_gradcampp_2.png", "c_gradcampp.png"]
    import cv2

    shapes = [cv2.imread(str(p)).shape for p in out]
    assert shapes == [(48, 64, 3), (32, 32, 3), (70, 40, 3)]
    assert not [f for f in os.listdir(tmp_path / "out") if f.endswith(".tmp")]


def test_write_overlays_from_saved_model(tmp_path, gap_model):
    gap_model.save(tmp_path / "m.keras")
    src = write_png(tmp_path / "img.png", np.full((32, 32, 3), 128))
    out = write_overlays(tmp_path / "m.keras", [src], tmp_path / "out")
    assert out[0].exists()


# --- with the real zoo -------------------------------------------------------------------------


def _nested_factory(input_shape, weights=None, **kwargs):
    import keras

    inp = keras.Input(input_shape)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="p_conv1")(inp)
    x = keras.layers.MaxPooling2D(2, name="p_pool")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="p_conv2")(x)
    return keras.Model(inp, x, name="plugin_net")


@pytest.fixture(scope="module")
def zoo():
    return pytest.importorskip("xraycls.zoo")


def test_zoo_simple_cnn_and_frozen_backbone(zoo, images):
    model = zoo.build_model("simple_cnn", input_shape=(32, 32, 3), width=4, seed=0)
    target = find_target_layer(model)
    assert model.get_layer(target.split("/")[0]) is not None
    heat = cam(model, images)
    assert heat.shape == (6, 32, 32) and np.isfinite(heat).all()
    with pytest.raises(ConfigError, match="head_dense"):
        cam(model, images, method="cam")
    frozen = zoo.build_model(
        "simple_cnn", input_shape=(32, 32, 3), width=4, seed=0, freeze_backbone=True
    )
    # Gradients are taken w.r.t. the feature maps, so frozen (non-trainable) weights still work.
    np.testing.assert_allclose(cam(frozen, images), heat, atol=1e-5)


def test_zoo_plugin_backbone_is_nested(zoo, images):
    from _helpers_zoo import registry_snapshot

    with registry_snapshot():
        zoo.register_backbone("cam_test_nested", _nested_factory, overwrite=True)
        model = zoo.build_model("cam_test_nested", input_shape=(32, 32, 3), seed=0)
    target = find_target_layer(model)
    assert "/" in target and target.endswith("p_conv2"), target
    heat = cam(model, images, method="gradcam++")
    assert heat.shape == (6, 32, 32) and np.isfinite(heat).all()
    by_name = cam(model, images, method="gradcam++", layer="p_conv2")
    np.testing.assert_allclose(heat, by_name, atol=1e-6)


def test_zoo_saved_model_round_trip(zoo, tmp_path, images):
    model = zoo.build_model("simple_cnn", input_shape=(32, 32, 3), width=4, seed=0)
    before = cam(model, images)  # cutting the model for CAM must not break saving it after
    path = zoo.save_model(model, tmp_path / "m.keras", class_names=["a", "b", "c"])
    loaded = zoo.load_model(path)
    assert len(loaded.layers) == len(model.layers)
    np.testing.assert_allclose(cam(loaded, images), before, atol=1e-5)


@pytest.mark.slow
def test_zoo_xception_full_size(zoo):
    model = zoo.build_model("xception", input_shape=(128, 128, 3))
    assert find_target_layer(model) == "block14_sepconv2_act"
    x = np.random.default_rng(0).integers(0, 256, (2, 128, 128, 3)).astype(np.uint8)
    heat = cam(model, x)
    assert heat.shape == (2, 128, 128) and np.isfinite(heat).all()


def test_letterbox_box_maps_back_onto_the_original():
    img = np.zeros((50, 80, 3), np.uint8)
    _, box = fit(img, 32, 32, "pad")
    top, left, nh, nw = box[:4]
    assert (top, left, nw) == (6, 0, 32) and nh == 20
    heat = np.zeros((32, 32), np.float32)
    heat[top : top + nh // 2, left : left + nw // 2] = 1.0  # top-left quarter of the picture
    back = unfit(heat, box, img.shape)
    assert back.shape == (50, 80)
    assert back[:20, :35].mean() > 0.95 and back[30:, 45:].max() < 0.05


@pytest.mark.slow
def test_example_script_runs(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "explain.py"
    result = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path), "--limit", "20", "--epochs", "4"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "target layer" in result.stdout
    pngs = sorted(tmp_path.glob("*_gradcam.png"))
    assert len(pngs) >= 8
    import cv2

    assert all(cv2.imread(str(p)) is not None for p in pngs)


def test_mixed_precision_model(images):
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = gap_dense_model(seed=1)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    for method in ("gradcam", "gradcam++", "cam"):
        heat = cam(model, images, method=method)
        assert heat.dtype == np.float32 and np.isfinite(heat).all() and heat.max() == 1.0
    assert np.abs(cam(model, images, method="cam") - cam(model, images)).max() < 1e-2


def test_sequential_model(images):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Rescaling(1 / 255.0),
            keras.layers.Conv2D(4, 3, activation="relu", name="c1"),
            keras.layers.Conv2D(4, 3, activation="relu", name="c2"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    assert find_target_layer(model) == "c2"
    np.testing.assert_allclose(cam(model, images, method="cam"), cam(model, images), atol=1e-4)


def test_scorecam_chunks_and_nested_models(images):
    model = nested_model()
    whole = cam(model, images, method="scorecam", chunk=64)
    chunked = cam(model, images, method="scorecam", chunk=3)
    assert whole.shape == (6, 32, 32)
    np.testing.assert_allclose(whole, chunked, atol=1e-5)


def test_write_overlays_checks_arguments_before_reading_files(tmp_path, gap_model):
    missing = [tmp_path / "missing.png"]
    with pytest.raises(ConfigError, match="conv2_act"):
        write_overlays(gap_model, missing, tmp_path / "out", layer="conv_2act")
    with pytest.raises(ConfigError, match="method"):
        write_overlays(gap_model, missing, tmp_path / "out", method="gradcam+")
    from xraycls.errors import ImageReadError

    with pytest.raises(ImageReadError, match="missing"):
        write_overlays(gap_model, missing, tmp_path / "out")
