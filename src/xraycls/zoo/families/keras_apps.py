"""``keras.applications`` backbones: the paper's six plus two small CPU-friendly ones.

Each is built headless (``include_top=False``) on the model's own tensor (``input_tensor=``), so
the final model is one flat graph and its last conv layer can be reached with
``model.get_layer(...)``. Weights are ``None`` or a local ``.h5`` file in the
``keras.applications`` layout (ImageNet weights are resolved to the Keras cache by
``xraycls.zoo._weights`` before the factory is called).

Examples:
    >>> from xraycls.zoo import get_backbone
    >>> [get_backbone(n).preprocessing for n in ("vgg16", "xception", "densenet201")]
    ['caffe', 'tf', 'torch']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import ops

from xraycls.zoo._registry import BackboneSpec, _register_builtin

__all__ = ["keras_application"]


def _fix_efficientnet_normalization(model: keras.Model) -> None:
    # The keras.applications EfficientNet files store the ImageNet *std* in the Normalization
    # layer's variance slot, and Keras adds a Rescaling(1/sqrt(std)) layer only when
    # weights="imagenet" (keras-team/keras issue 49930 in tensorflow). We build with
    # weights=None and load the file ourselves, so square the variance instead: the result is
    # the same (x/255 - mean) / std.
    for layer in model.layers:
        if isinstance(layer, keras.layers.Normalization):
            layer.adapt_variance.assign(ops.square(layer.adapt_variance))
            layer.finalize_state()
            return


def keras_application(
    constructor: Callable[..., keras.Model],
    *,
    fix: Callable[[keras.Model], None] | None = None,
    **fixed_kwargs: Any,
) -> Callable[..., keras.Model]:
    """Wrap a ``keras.applications`` constructor as an xraycls backbone factory.

    Args:
        constructor: e.g. ``keras.applications.Xception``.
        fix: Called on the model after loading a weights file.
        **fixed_kwargs: Always passed to ``constructor`` (e.g. ``include_preprocessing=False``).

    Returns:
        ``factory(input_shape, weights=None, *, input_tensor=None, **kwargs) -> keras.Model``.

    Examples:
        >>> factory = keras_application(keras.applications.VGG16)
        >>> factory((32, 32, 3)).output.shape
        (None, 1, 1, 512)
    """

    def factory(
        input_shape: tuple[int, int, int],
        weights: str | None = None,
        *,
        input_tensor: Any = None,
        **kwargs: Any,
    ) -> keras.Model:
        model = constructor(
            include_top=False,
            weights=None,
            input_shape=tuple(input_shape),
            input_tensor=input_tensor,
            **fixed_kwargs,
            **kwargs,
        )
        if weights is not None:
            # Same as keras.applications' own `weights=<path>` branch, but also for the
            # files whose architecture depends on weights == "imagenet" (EfficientNet).
            model.load_weights(weights)
            if fix is not None:
                fix(model)
        return model

    factory.__name__ = f"{constructor.__name__}_backbone"
    factory.__doc__ = f"Headless keras.applications.{constructor.__name__}."
    return factory


_APPS = keras.applications


def _app_spec(**kwargs: Any) -> BackboneSpec:
    return BackboneSpec(accepts_input_tensor=True, **kwargs)


_SPECS = (
    _app_spec(
        name="vgg16",
        aliases=("VGG16", "VGG-16"),
        factory=keras_application(_APPS.VGG16),
        preprocessing="caffe",
        default_input_shape=(224, 224, 3),
        min_input_size=32,
        description="VGG16 (paper backbone)",
    ),
    _app_spec(
        name="xception",
        aliases=("Xception",),
        factory=keras_application(_APPS.Xception),
        preprocessing="tf",
        default_input_shape=(299, 299, 3),
        min_input_size=71,
        description="Xception (paper backbone)",
    ),
    _app_spec(
        name="resnet50",
        aliases=("ResNet-50", "ResNet50"),
        factory=keras_application(_APPS.ResNet50),
        preprocessing="caffe",
        default_input_shape=(224, 224, 3),
        min_input_size=32,
        description="ResNet-50 (paper backbone)",
    ),
    _app_spec(
        name="resnet101",
        aliases=("ResNet-101", "ResNet101"),
        factory=keras_application(_APPS.ResNet101),
        preprocessing="caffe",
        default_input_shape=(224, 224, 3),
        min_input_size=32,
        description="ResNet-101 (paper backbone)",
    ),
    _app_spec(
        name="inception_resnet_v2",
        aliases=("InceptionResNetV2", "Inception-ResNet-v2"),
        factory=keras_application(_APPS.InceptionResNetV2),
        preprocessing="tf",
        default_input_shape=(299, 299, 3),
        min_input_size=75,
        description="Inception-ResNet-v2 (paper backbone)",
    ),
    _app_spec(
        name="densenet201",
        aliases=("DenseNet201", "DenseNet-201"),
        factory=keras_application(_APPS.DenseNet201),
        preprocessing="torch",
        default_input_shape=(224, 224, 3),
        min_input_size=32,
        description="DenseNet-201 (paper backbone)",
    ),
    _app_spec(
        name="mobilenet_v3_small",
        aliases=("MobileNetV3Small", "MobileNet-V3-Small"),
        # Our Preprocess layer does the same [-1, 1] scaling as Keras's built-in Rescaling, and
        # keeps spec.preprocess() usable for include_preprocessing=False.
        factory=keras_application(_APPS.MobileNetV3Small, include_preprocessing=False),
        preprocessing="tf",
        default_input_shape=(224, 224, 3),
        min_input_size=32,
        description="MobileNetV3-Small, fast on a CPU",
    ),
    _app_spec(
        name="efficientnet_b0",
        aliases=("EfficientNetB0", "EfficientNet-B0"),
        # Keras's EfficientNet always contains its own Rescaling + Normalization layers, so the
        # model input is already raw [0, 255] pixels: nothing to add in front.
        factory=keras_application(_APPS.EfficientNetB0, fix=_fix_efficientnet_normalization),
        preprocessing="none",
        default_input_shape=(224, 224, 3),
        min_input_size=32,
        description="EfficientNet-B0, small and accurate",
    ),
)

for _spec in _SPECS:
    _register_builtin(_spec)
