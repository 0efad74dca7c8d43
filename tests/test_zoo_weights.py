"""Weights: offline ImageNet errors, the Keras cache, weight files, sha256."""

from __future__ import annotations

import hashlib
import time

import keras
import numpy as np
import pytest

from _helpers_zoo import write_legacy_h5
from xraycls.errors import ConfigError, WeightsError
from xraycls.zoo import _weights, build_model, get_backbone, list_models


@pytest.fixture
def empty_keras_home(tmp_path, monkeypatch):
    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setenv(_weights.ALLOW_DOWNLOAD_ENV, "0")

    def no_network(*args, **kwargs):  # any download attempt fails the test
        raise AssertionError("tests must never touch the network")

    monkeypatch.setattr(_weights, "_host_reachable", no_network)
    monkeypatch.setattr(keras.utils, "get_file", no_network)
    return home


def test_offline_imagenet_fails_fast_naming_file_and_folder(empty_keras_home):
    start = time.perf_counter()
    with pytest.raises(WeightsError) as info:
        build_model("xception", input_shape=(71, 71, 3), weights="imagenet")
    elapsed = time.perf_counter() - start
    message = str(info.value)
    assert "xception_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert str(empty_keras_home / "models") in message
    assert "XRAYCLS_ALLOW_DOWNLOAD" in message and "allow_download=True" in message
    assert elapsed < 5.0


def test_offline_probe_decides_when_nothing_is_set(empty_keras_home, monkeypatch):
    monkeypatch.delenv(_weights.ALLOW_DOWNLOAD_ENV)
    probed = []

    def unreachable(url, timeout=1.5):
        probed.append(url)
        return False

    monkeypatch.setattr(_weights, "_host_reachable", unreachable)
    with pytest.raises(WeightsError, match="not reachable"):
        build_model("resnet50", input_shape=(32, 32, 3), weights="imagenet")
    assert probed == [_weights.imagenet_file("resnet50").url]
    # an explicit argument wins over the probe and the environment
    monkeypatch.setenv(_weights.ALLOW_DOWNLOAD_ENV, "1")
    with pytest.raises(WeightsError, match="allow_download=False"):
        build_model("resnet50", input_shape=(32, 32, 3), weights="imagenet", allow_download=False)


def test_real_probe_returns_quickly_on_unroutable_host():
    start = time.perf_counter()
    # TEST-NET-1 (RFC 5737) is never routed: the probe must give up within its timeout.
    assert _weights._host_reachable("https://192.0.2.1/x.h5", timeout=0.5) is False
    assert time.perf_counter() - start < 3.0


def test_every_keras_backbone_has_a_cache_file_name():
    for name in list_models(source="builtin"):
        if name == "simple_cnn":
            with pytest.raises(WeightsError, match="no ImageNet weights"):
                _weights.imagenet_file(name)
        else:
            info = _weights.imagenet_file(name)
            assert info.file_name.endswith(".h5") and info.url.endswith(info.file_name)


def test_simple_cnn_has_no_imagenet_weights(empty_keras_home):
    with pytest.raises(WeightsError, match="no ImageNet weights"):
        build_model("simple_cnn", input_shape=(16, 16, 3), weights="imagenet")


def test_imagenet_from_the_keras_cache(empty_keras_home):
    # A stand-in for the real file: a VGG16 notop in the keras.applications .h5 layout.
    source = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    cached = write_legacy_h5(
        source, empty_keras_home / "models" / _weights.imagenet_file("vgg16").file_name
    )
    model = build_model("vgg16", input_shape=(32, 32, 3), weights="imagenet")
    np.testing.assert_array_equal(
        model.get_layer("block5_conv3").kernel, source.get_layer("block5_conv3").kernel
    )
    digest = hashlib.sha256(cached.read_bytes()).hexdigest()
    build_model("vgg16", input_shape=(32, 32, 3), weights="imagenet", sha256=digest.upper())
    with pytest.raises(WeightsError) as info:
        build_model("vgg16", input_shape=(32, 32, 3), weights="imagenet", sha256="0" * 64)
    assert digest in str(info.value) and "0" * 64 in str(info.value)


def test_backbone_h5_file_by_path(tmp_path):
    source = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = write_legacy_h5(source, tmp_path / "my_resnet50_backbone.h5")
    model = build_model("ResNet-50", input_shape=(32, 32, 3), weights=str(path))
    np.testing.assert_array_equal(
        model.get_layer("conv5_block3_3_conv").kernel,
        source.get_layer("conv5_block3_3_conv").kernel,
    )
    with pytest.raises(WeightsError, match=r"my_resnet50_backbone\.h5"):
        build_model("vgg16", input_shape=(32, 32, 3), weights=path)


def test_efficientnet_file_gets_the_imagenet_normalisation(tmp_path):
    source = keras.applications.EfficientNetB0(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    norm = next(lyr for lyr in source.layers if isinstance(lyr, keras.layers.Normalization))
    std = np.array([0.229, 0.224, 0.225], dtype="float32")
    # keras.applications stores the std (not the variance) in the file
    norm.adapt_variance.assign(std)
    path = write_legacy_h5(source, tmp_path / "efficientnetb0_notop.h5")
    model = build_model("efficientnet_b0", input_shape=(32, 32, 3), weights=path)
    ours = next(lyr for lyr in model.layers if isinstance(lyr, keras.layers.Normalization))
    np.testing.assert_allclose(np.asarray(ours.adapt_variance), std**2, rtol=1e-6)


def test_whole_model_weights_file(tmp_path):
    a = build_model("simple_cnn", input_shape=(16, 16, 3), width=2, seed=1)
    path = tmp_path / "model.weights.h5"
    a.save_weights(path)
    b = build_model("simple_cnn", input_shape=(16, 16, 3), width=2, seed=2, weights=path)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    build_model("simple_cnn", input_shape=(16, 16, 3), width=2, weights=path, sha256=digest)
    with pytest.raises(WeightsError, match="same backbone"):
        build_model("simple_cnn", num_classes=5, input_shape=(16, 16, 3), width=2, weights=path)


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ("does/not/exist.weights.h5", "does not exist"),
        ("imagenet21k", "does not exist"),
    ],
)
def test_missing_weights_files(weights, match):
    with pytest.raises(WeightsError, match=match):
        build_model("simple_cnn", input_shape=(16, 16, 3), width=2, weights=weights)


def test_unsupported_weights_suffix(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"x")
    with pytest.raises(WeightsError, match="load_model"):
        build_model("simple_cnn", input_shape=(16, 16, 3), weights=path)
    with pytest.raises(ConfigError, match="sha256"):
        build_model("simple_cnn", input_shape=(16, 16, 3), sha256="ab")


def test_keras_cache_dir_follows_keras_home(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert _weights.keras_cache_dir() == tmp_path / "models"
    monkeypatch.delenv("KERAS_HOME")
    assert _weights.keras_cache_dir().parent.name == ".keras"


def test_spec_names_match_weights_table():
    assert get_backbone("MobileNetV3Small").name in _weights._IMAGENET_FILES
