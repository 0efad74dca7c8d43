"""The example plugin (examples/plugin), installed as a real distribution, used through xraycls."""

from __future__ import annotations

import importlib.metadata
import importlib.util

import keras
import numpy as np
import pytest

import xraycls
from xraycls.zoo import _registry

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("xraycls_example_plugin") is None,
    reason="example plugin not installed: pip install -e examples/plugin --no-deps (CI does)",
)


def test_entry_point_is_declared():
    eps = importlib.metadata.entry_points(group=_registry.ENTRY_POINT_GROUP)
    by_name = {ep.name: ep for ep in eps}
    assert by_name["tiny_convnet"].value == "xraycls_example_plugin:tiny_convnet"


def test_plugin_is_discovered_with_its_metadata():
    assert "tiny_convnet" in xraycls.list_models(source="plugin")
    spec = xraycls.get_backbone("TinyConvNet")
    assert (spec.name, spec.source, spec.provider) == (
        "tiny_convnet",
        "plugin",
        "xraycls-example-plugin",
    )
    assert (spec.preprocessing, spec.default_input_shape, spec.min_input_size) == (
        "tf",
        (64, 64, 3),
        8,
    )


def test_plugin_model_trains_one_step(tmp_path):
    model = xraycls.build_model("tiny_convnet", num_classes=3, input_shape=(32, 32, 3), seed=0)
    assert [layer.name for layer in model.layers[-5:]] == [
        "head_pool",
        "head_dense",
        "head_bn",
        "head_dropout",
        "predictions",
    ]
    assert model.get_layer("tiny_convnet_backbone").get_layer("tiny_conv2").filters == 16
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    y = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    before = [w.copy() for w in model.get_layer("tiny_convnet_backbone").get_weights()]
    loss = float(model.train_on_batch(x, y))
    assert np.isfinite(loss)
    after = model.get_layer("tiny_convnet_backbone").get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    # the nested plugin backbone survives the model file round trip
    path = xraycls.save_model(model, tmp_path / "tiny.keras", class_names=["a", "b", "c"])
    loaded = xraycls.load_model(path)
    np.testing.assert_allclose(
        np.asarray(loaded(x, training=False)), np.asarray(model(x, training=False)), rtol=1e-5
    )


def test_plugin_kwargs_and_imagenet_errors():
    model = xraycls.build_model("tiny_convnet", input_shape=(16, 16, 3), filters=2)
    assert model.get_layer("tiny_convnet_backbone").get_layer("tiny_conv1").filters == 2
    with pytest.raises(xraycls.PluginError, match=r"xraycls-example-plugin.*ImageNet"):
        xraycls.build_model("tiny_convnet", input_shape=(16, 16, 3), weights="imagenet")
