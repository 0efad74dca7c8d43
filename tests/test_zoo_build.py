"""Building models: every built-in backbone, the head, preprocessing, arguments."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xraycls
from xraycls.errors import ConfigError
from xraycls.zoo import Preprocess, build_model, get_backbone, list_models

PAPER = ("vgg16", "xception", "resnet50", "resnet101", "inception_resnet_v2", "densenet201")
SMALL = ("mobilenet_v3_small", "efficientnet_b0", "simple_cnn")
HEAD = ("head_pool", "head_dense", "head_bn", "head_dropout", "predictions")
# The layer CAM uses (last conv feature map) for each paper backbone, and its size at 128 px.
CAM_LAYERS = {
    "vgg16": ("block5_conv3", 8),
    "xception": ("block14_sepconv2_act", 4),
    "resnet50": ("conv5_block3_out", 4),
    "resnet101": ("conv5_block3_out", 4),
    "inception_resnet_v2": ("conv_7b_ac", 2),
    "densenet201": ("relu", 4),
}


def _images(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


def _check_head(model: keras.Model, num_classes: int, head_width: int = 512) -> None:
    assert [layer.name for layer in model.layers[-5:]] == list(HEAD)
    types = [type(model.get_layer(n)) for n in HEAD]
    assert types == [
        keras.layers.GlobalAveragePooling2D,
        keras.layers.Dense,
        keras.layers.BatchNormalization,
        keras.layers.Dropout,
        keras.layers.Dense,
    ]
    assert model.get_layer("head_dense").units == head_width
    assert model.get_layer("head_dense").activation.__name__ == "relu"
    assert model.get_layer("predictions").units == num_classes
    assert model.get_layer("predictions").activation.__name__ == "softmax"


def _check_probabilities(model: keras.Model, size: int, num_classes: int) -> None:
    probs = np.asarray(model(_images(2, size), training=False))
    assert probs.shape == (2, num_classes)
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def _builtin_params():
    for name in PAPER + SMALL:
        marks = [pytest.mark.slow] if name in PAPER else []
        yield pytest.param(name, marks=marks, id=name)


def test_builtin_list_is_complete():
    assert set(list_models(source="builtin")) == set(PAPER + SMALL)


@pytest.mark.parametrize("name", list(_builtin_params()))
def test_builtin_builds_at_min_size(name):
    spec = get_backbone(name)
    size = spec.min_input_size if name != "simple_cnn" else 16
    kwargs = {"width": 2} if name == "simple_cnn" else {}
    model = build_model(name, num_classes=3, input_shape=(size, size, 3), **kwargs)
    assert model.name == name
    assert [layer.name for layer in model.layers[:2]] == ["image", "preprocess"]
    assert model.get_layer("preprocess").mode == spec.preprocessing
    _check_head(model, 3)
    _check_probabilities(model, size, 3)
    with pytest.raises(ConfigError, match=f">= {spec.min_input_size}"):
        build_model(name, input_shape=(spec.min_input_size - 1, spec.min_input_size, 3))


@pytest.mark.slow
@pytest.mark.parametrize("name", PAPER)
def test_paper_backbone_at_128_is_one_flat_graph(name):
    model = xraycls.build_model(name, num_classes=3, input_shape=(128, 128, 3), weights=None)
    assert model.input.shape == (None, 128, 128, 3)
    # flat: no layer is itself a model, so every backbone layer is reachable by name (CAM)
    assert not [layer.name for layer in model.layers if isinstance(layer, keras.Model)]
    layer_name, size = CAM_LAYERS[name]
    assert model.get_layer(layer_name).output.shape[1:3] == (size, size)
    _check_head(model, 3)
    # paper: no freezing by default
    assert all(layer.trainable for layer in model.layers)
    assert model.get_layer(layer_name).trainable
    _check_probabilities(model, 128, 3)


@settings(max_examples=8, deadline=None)
@given(
    size=st.integers(min_value=8, max_value=48),
    num_classes=st.integers(min_value=2, max_value=6),
    width=st.integers(min_value=1, max_value=4),
    head_width=st.sampled_from([4, 16, 512]),
)
def test_simple_cnn_any_size_and_classes(size, num_classes, width, head_width):
    model = build_model(
        "simple_cnn",
        num_classes=num_classes,
        input_shape=(size, size, 3),
        width=width,
        head_width=head_width,
    )
    _check_head(model, num_classes, head_width)
    assert model.get_layer("block4_conv").filters == 8 * width
    _check_probabilities(model, size, num_classes)


def test_simple_cnn_default_is_a_few_hundred_thousand_params():
    model = build_model("simple_cnn")
    assert model.input.shape == (None, 128, 128, 3)
    assert 200_000 < model.count_params() < 1_000_000
    tiny = build_model("simple_cnn", input_shape=(32, 32, 3), width=4)
    assert tiny.count_params() < 30_000


def test_mobilenet_and_efficientnet_are_flat():
    for name, layer in (
        ("mobilenet_v3_small", "expanded_conv_10_add"),
        ("efficientnet_b0", "top_activation"),
    ):
        model = build_model(name, input_shape=(32, 32, 3))
        assert model.get_layer(layer).output.shape[-1] > 0
        assert not [lyr for lyr in model.layers if isinstance(lyr, keras.Model)]


def test_include_preprocessing_false():
    model = build_model("simple_cnn", input_shape=(16, 16, 3), width=2, include_preprocessing=False)
    assert "preprocess" not in [layer.name for layer in model.layers]
    with_layer = build_model("simple_cnn", input_shape=(16, 16, 3), width=2, seed=3)
    without = build_model(
        "simple_cnn", input_shape=(16, 16, 3), width=2, seed=3, include_preprocessing=False
    )
    x = _images(2, 16)
    spec = get_backbone("simple_cnn")
    np.testing.assert_allclose(
        np.asarray(with_layer(x, training=False)),
        np.asarray(without(np.asarray(spec.preprocess(x)), training=False)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_seed_makes_weights_reproducible():
    a = build_model("simple_cnn", input_shape=(16, 16, 3), width=2, seed=7)
    b = build_model("simple_cnn", input_shape=(16, 16, 3), width=2, seed=7)
    c = build_model("simple_cnn", input_shape=(16, 16, 3), width=2, seed=8)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_layer("block1_conv").kernel, c.get_layer("block1_conv").kernel)


def test_freeze_backbone_leaves_only_the_head_trainable():
    model = build_model("simple_cnn", input_shape=(16, 16, 3), width=2, freeze_backbone=True)
    trainable = {w.path.split("/")[0] for w in model.trainable_weights}
    assert trainable == {"head_dense", "head_bn", "predictions"}
    flat = build_model("mobilenet_v3_small", input_shape=(32, 32, 3), freeze_backbone=True)
    assert {w.path.split("/")[0] for w in flat.trainable_weights} == trainable


def test_head_arguments():
    model = build_model("simple_cnn", input_shape=(16, 16, 3), width=2, head_width=7, dropout=0.2)
    assert model.get_layer("head_dense").units == 7
    assert model.get_layer("head_dropout").rate == pytest.approx(0.2)
    assert build_model("simple_cnn", input_shape=(16, 16, 3), width=2).get_layer(
        "head_dropout"
    ).rate == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_shape": (32, 32)}, "input_shape"),
        ({"input_shape": (32, 32, 1)}, "last axis must be 3"),
        ({"input_shape": (32.5, 32, 3)}, "input_shape"),
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": True}, "num_classes"),
        ({"dropout": 1.0}, "dropout"),
        ({"head_width": 0}, "head_width"),
        ({"width": 0}, "width"),
        ({"no_such_argument": 1}, "no_such_argument"),
    ],
)
def test_bad_arguments_are_config_errors(kwargs, match):
    args = {"input_shape": (16, 16, 3), **kwargs}
    with pytest.raises(ConfigError, match=match):
        build_model("simple_cnn", **args)


@pytest.mark.parametrize(
    ("mode", "reference"),
    [
        ("caffe", keras.applications.vgg16.preprocess_input),
        ("tf", keras.applications.xception.preprocess_input),
        ("torch", keras.applications.densenet.preprocess_input),
    ],
)
def test_preprocess_matches_keras_applications(mode, reference):
    x = _images(2, 5, seed=1)
    ours = np.asarray(Preprocess(mode=mode)(x))
    np.testing.assert_allclose(ours, np.asarray(reference(x.copy())), rtol=1e-5, atol=1e-4)


def test_preprocess_config_round_trip_and_validation():
    layer = Preprocess(mode="caffe", name="pp")
    clone = Preprocess.from_config(layer.get_config())
    assert (clone.mode, clone.name) == ("caffe", "pp")
    assert keras.saving.get_registered_object("xraycls>Preprocess") is Preprocess
    x = _images(1, 3)
    np.testing.assert_array_equal(np.asarray(Preprocess(mode="none")(x)), x)
    with pytest.raises(ConfigError, match="'bgr'"):
        Preprocess(mode="bgr")


def test_spec_preprocess_works_inside_tf_data():
    import tensorflow as tf

    spec = get_backbone("resnet50")
    x = _images(3, 4)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(3).map(spec.preprocess)
    out = next(iter(ds)).numpy()
    np.testing.assert_allclose(
        out, keras.applications.resnet50.preprocess_input(x.copy()), atol=1e-4
    )
