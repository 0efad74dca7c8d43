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


# name, aliases, factory, preprocessing, default input side, least input side, description
_TABLE: tuple[tuple[str, tuple[str, ...], Callable[..., keras.Model], str, int, int, str], ...] = (
    ("vgg16", ("VGG16", "VGG-16"), keras_application(_APPS.VGG16),
     "caffe", 224, 32, "VGG16 (paper backbone)"),
    ("xception", ("Xception",), keras_application(_APPS.Xception),
     "tf", 299, 71, "Xception (paper backbone)"),
    ("resnet50", ("ResNet-50", "ResNet50"), keras_application(_APPS.ResNet50),
     "caffe", 224, 32, "ResNet-50 (paper backbone)"),
    ("resnet101", ("ResNet-101", "ResNet101"), keras_application(_APPS.ResNet101),
     "caffe", 224, 32, "ResNet-101 (paper backbone)"),
    ("inception_resnet_v2", ("InceptionResNetV2", "Inception-ResNet-v2"),
     keras_application(_APPS.InceptionResNetV2),
     "tf", 299, 75, "Inception-ResNet-v2 (paper backbone)"),
    ("densenet201", ("DenseNet201", "DenseNet-201"), keras_application(_APPS.DenseNet201),
     "torch", 224, 32, "DenseNet-201 (paper backbone)"),
    # Our Preprocess layer does the same [-1, 1] scaling as Keras's built-in Rescaling, and
    # keeps spec.preprocess() usable for include_preprocessing=False.
    ("mobilenet_v3_small", ("MobileNetV3Small", "MobileNet-V3-Small"),
     keras_application(_APPS.MobileNetV3Small, include_preprocessing=False),
     "tf", 224, 32, "MobileNetV3-Small, fast on a CPU"),
    # Keras's EfficientNet always contains its own Rescaling + Normalization layers, so the
    # model input is already raw [0, 255] pixels: nothing to add in front.
    ("efficientnet_b0", ("EfficientNetB0", "EfficientNet-B0"),
     keras_application(_APPS.EfficientNetB0, fix=_fix_efficientnet_normalization),
     "none", 224, 32, "EfficientNet-B0, small and accurate"),
)  # fmt: skip

_SPECS = tuple(
    BackboneSpec(
        name=name,
        aliases=aliases,
        factory=factory,
        preprocessing=preprocessing,
        default_input_shape=(side, side, 3),
        min_input_size=least,
        description=description,
        accepts_input_tensor=True,
    )
    for name, aliases, factory, preprocessing, side, least, description in _TABLE
)

for _spec in _SPECS:
    _register_builtin(_spec)
