"""Registry: names, aliases, unknown names, duplicates, plugins (broken ones included)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xraycls
from _helpers_zoo import FakeEntryPoint, flat_backbone, registry_snapshot, tiny_backbone
from xraycls.errors import ConfigError, PluginError, UnknownModelError
from xraycls.zoo import (
    BackboneSpec,
    PluginWarning,
    Preprocess,
    _registry,
    get_backbone,
    list_models,
)

PAPER = ("vgg16", "xception", "resnet50", "resnet101", "inception_resnet_v2", "densenet201")
SMALL = ("mobilenet_v3_small", "efficientnet_b0", "simple_cnn")


@pytest.fixture
def clean_registry():
    with registry_snapshot():
        yield


def test_list_models_is_sorted_and_has_builtins():
    names = xraycls.list_models()
    assert names == sorted(names)
    assert set(PAPER + SMALL) <= set(names)
    assert set(list_models(source="builtin")) == set(PAPER + SMALL)


def test_list_models_filters():
    assert list_models(pattern="resnet*") == ["resnet101", "resnet50"]
    assert list_models(pattern="RESNET1*") == ["resnet101"]
    assert list_models(source="user", pattern="nothing-like-this") == []
    with pytest.raises(ConfigError, match="source"):
        list_models(source="elsewhere")


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("ResNet-50", "resnet50"),
        ("ResNet-101", "resnet101"),
        ("DenseNet201", "densenet201"),
        ("InceptionResNetV2", "inception_resnet_v2"),
        ("VGG16", "vgg16"),
        ("Xception", "xception"),
        ("inception resnet v2", "inception_resnet_v2"),
        ("MobileNetV3Small", "mobilenet_v3_small"),
        ("EfficientNet-B0", "efficientnet_b0"),
        ("SIMPLE-CNN", "simple_cnn"),
    ],
)
def test_paper_spellings_are_aliases(alias, name):
    assert get_backbone(alias).name == name


def test_spec_metadata():
    spec = get_backbone("vgg16")
    assert isinstance(spec, BackboneSpec)
    assert (spec.source, spec.provider, spec.preprocessing) == ("builtin", "xraycls", "caffe")
    assert spec.default_input_shape == (224, 224, 3)
    assert get_backbone("inception_resnet_v2").min_input_size == 75
    with pytest.raises(Exception, match=r"frozen|cannot assign"):
        spec.name = "other"  # type: ignore[misc]


def test_unknown_name_lists_close_matches():
    with pytest.raises(UnknownModelError) as info:
        get_backbone("resnet5O")
    message = str(info.value)
    assert "'resnet5O'" in message
    assert "resnet50" in message
    assert isinstance(info.value, KeyError)  # still catchable as a lookup failure
    with pytest.raises(UnknownModelError, match="did you mean 'densenet201'"):
        xraycls.build_model("densenet-210")


def test_unknown_name_without_close_match():
    with pytest.raises(UnknownModelError) as info:
        get_backbone("zzzzzzzzzzzzzz")
    assert "did you mean" not in str(info.value)


def test_register_and_build_user_backbone(clean_registry):
    spec = xraycls.register_backbone(
        "My-Net", tiny_backbone, aliases=("MyNetwork",), preprocessing="torch", min_input_size=8
    )
    assert (spec.name, spec.source, spec.provider) == ("my-net", "user", "_helpers_zoo")
    assert get_backbone("mynetwork") is spec
    assert get_backbone("MY_NET") is spec
    assert "my-net" in list_models(source="user")
    model = xraycls.build_model("mynetwork", num_classes=4, input_shape=(16, 16, 3), filters=2)
    assert model.name == "my-net"
    assert model.get_layer("preprocess").mode == "torch"
    # nested backbone: one layer that is itself a model
    assert model.get_layer("tiny_backbone").get_layer("t_conv").filters == 2
    assert model.output.shape[-1] == 4


def test_flat_user_backbone(clean_registry):
    xraycls.register_backbone("flatnet", flat_backbone, accepts_input_tensor=True)
    model = xraycls.build_model("flatnet", input_shape=(32, 32, 3))
    names = [layer.name for layer in model.layers]
    assert names[:3] == ["image", "preprocess", "flat_conv"]
    assert model.get_layer("flat_conv").output.shape == (None, 32, 32, 4)


def test_flat_claim_without_using_input_tensor_is_refused(clean_registry):
    xraycls.register_backbone("liar_net", tiny_backbone, accepts_input_tensor=True)
    with pytest.raises(PluginError, match="did not build its layers on input_tensor"):
        xraycls.build_model("liar_net", input_shape=(32, 32, 3))


def test_duplicate_name_names_both_providers(clean_registry):
    with pytest.raises(PluginError) as info:
        xraycls.register_backbone("resnet50", tiny_backbone)
    message = str(info.value)
    assert "'resnet50'" in message and "xraycls" in message and "_helpers_zoo" in message
    # normalised collision: a different spelling of an existing name
    with pytest.raises(PluginError, match="resnet50"):
        xraycls.register_backbone("res_net-50", tiny_backbone)


def test_duplicate_alias_is_refused(clean_registry):
    xraycls.register_backbone("net_a", tiny_backbone, aliases=("shared",))
    with pytest.raises(PluginError, match=r"alias 'shared'.*'net_a'"):
        xraycls.register_backbone("net_b", tiny_backbone, aliases=("Shared",))
    with pytest.raises(PluginError, match="densenet201"):
        xraycls.register_backbone("net_c", tiny_backbone, aliases=("DenseNet-201",))
    assert "net_b" not in list_models() and "net_c" not in list_models()


def test_overwrite_replaces_same_name_only(clean_registry):
    first = xraycls.register_backbone("net_o", tiny_backbone, aliases=("old_alias",))
    second = xraycls.register_backbone("net_o", flat_backbone, overwrite=True)
    assert get_backbone("net_o") is second is not first
    with pytest.raises(UnknownModelError):
        get_backbone("old_alias")
    # overwrite does not allow stealing another backbone's alias
    with pytest.raises(PluginError):
        xraycls.register_backbone("net_o", tiny_backbone, aliases=("VGG-16",), overwrite=True)
    assert get_backbone("net_o") is second


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"preprocessing": "magic"}, "preprocessing"),
        ({"default_input_shape": (32, 32)}, "default_input_shape"),
        ({"min_input_size": 0}, "min_input_size"),
    ],
)
def test_register_validates(clean_registry, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        xraycls.register_backbone("bad_net", tiny_backbone, **kwargs)


def test_register_rejects_bad_names(clean_registry):
    with pytest.raises(ConfigError, match="invalid"):
        xraycls.register_backbone("bad/name", tiny_backbone)
    with pytest.raises(ConfigError, match="callable"):
        xraycls.register_backbone("not_callable", 42)  # type: ignore[arg-type]


def _discover(monkeypatch, *entry_points):
    monkeypatch.setattr(_registry, "_entry_points", lambda: list(entry_points))
    _registry._reset_plugins()


def test_broken_plugin_warns_and_others_work(clean_registry, monkeypatch):
    boom = ImportError("No module named 'torch_xray_nets'")
    good_factory = tiny_backbone
    _discover(
        monkeypatch,
        FakeEntryPoint("broken_net", error=boom, dist="xraycls-broken-plugin"),
        FakeEntryPoint("good_net", good_factory, dist="xraycls-good-plugin"),
    )
    with pytest.warns(PluginWarning) as record:
        names = list_models()
    messages = [str(w.message) for w in record]
    assert len(messages) == 1
    assert "xraycls-broken-plugin" in messages[0] and "torch_xray_nets" in messages[0]
    assert "broken_net" in messages[0]
    assert "good_net" in names and "broken_net" not in names
    assert get_backbone("good_net").provider == "xraycls-good-plugin"
    # discovery is done once: no new warning, built-ins unaffected
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = xraycls.build_model("simple_cnn", input_shape=(16, 16, 3), width=2)
    assert model.output.shape == (None, 3)


def test_plugin_clashing_with_builtin_is_skipped_with_warning(clean_registry, monkeypatch):
    _discover(monkeypatch, FakeEntryPoint("Xception", tiny_backbone, dist="evil-dist"))
    with pytest.warns(PluginWarning, match="evil-dist.*already taken.*xception"):
        list_models()
    assert get_backbone("xception").source == "builtin"


def test_plugin_metadata_attributes_and_spec_objects(clean_registry, monkeypatch):
    def fancy(input_shape, weights=None, **kwargs):
        """Fancy net for tests."""
        return tiny_backbone(input_shape, weights)

    fancy.preprocessing = "caffe"  # type: ignore[attr-defined]
    fancy.aliases = ("FancyNet2",)  # type: ignore[attr-defined]
    fancy.default_input_shape = (64, 64, 3)  # type: ignore[attr-defined]
    spec_obj = BackboneSpec(name="spec_net", factory=tiny_backbone, preprocessing="tf")
    _discover(
        monkeypatch,
        FakeEntryPoint("fancy_net", fancy, dist="fancy-dist"),
        FakeEntryPoint("spec_net", spec_obj, dist="spec-dist"),
        FakeEntryPoint("not_a_factory", 3.14, dist="odd-dist"),
    )
    with pytest.warns(PluginWarning, match="odd-dist.*callable"):
        names = list_models(source="plugin")
    assert names == ["fancy_net", "spec_net"]
    fancy_spec = get_backbone("fancynet2")
    assert (fancy_spec.preprocessing, fancy_spec.default_input_shape) == ("caffe", (64, 64, 3))
    assert fancy_spec.description == "Fancy net for tests."
    assert (get_backbone("spec_net").provider, get_backbone("spec_net").source) == (
        "spec-dist",
        "plugin",
    )


def test_plugin_factory_returning_garbage_is_a_plugin_error(clean_registry):
    xraycls.register_backbone("vector_net", lambda input_shape, weights=None: "not a model")
    with pytest.raises(PluginError, match=r"keras.Model"):
        xraycls.build_model("vector_net", input_shape=(32, 32, 3))


def test_plugin_factory_with_flat_output_is_refused(clean_registry):
    import keras

    def flat_out(input_shape, weights=None):
        inputs = keras.Input(input_shape)
        return keras.Model(inputs, keras.layers.Flatten()(inputs))

    xraycls.register_backbone("flat_out", flat_out)
    with pytest.raises(PluginError, match="4-D feature map"):
        xraycls.build_model("flat_out", input_shape=(32, 32, 3))


def test_spec_preprocess_matches_layer():
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    for name in ("vgg16", "xception", "densenet201", "efficientnet_b0"):
        spec = get_backbone(name)
        layer_out = np.asarray(Preprocess(mode=spec.preprocessing)(x))
        np.testing.assert_allclose(np.asarray(spec.preprocess(x)), layer_out, rtol=1e-6)
    model = xraycls.build_model("simple_cnn", input_shape=(8, 8, 3), width=1)
    assert model.get_layer("preprocess").mode == get_backbone("simple_cnn").preprocessing


def test_plugin_may_register_while_being_discovered(clean_registry, monkeypatch):
    class SelfRegistering(FakeEntryPoint):
        def load(self):
            # a plugin module that calls register_backbone at import time
            xraycls.register_backbone("side_net", tiny_backbone)
            return tiny_backbone

    _discover(monkeypatch, SelfRegistering("main_net", dist="self-registering-dist"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        names = list_models()
    assert {"main_net", "side_net"} <= set(names)
    assert get_backbone("main_net").source == "plugin"
