"""An example xraycls backbone plugin: ``tiny_convnet``.

xraycls finds :func:`tiny_convnet` through the entry point declared in ``pyproject.toml``::

    [project.entry-points."xraycls.backbones"]
    tiny_convnet = "xraycls_example_plugin:tiny_convnet"

The factory returns a *headless* ``keras.Model`` (feature maps out); xraycls adds its
preprocessing layer in front and the paper's classification head on top. The attributes set on
the function after its definition are optional metadata that xraycls reads.

Example:
    >>> import xraycls
    >>> model = xraycls.build_model("tiny_convnet", num_classes=3, input_shape=(32, 32, 3))
    >>> model.output.shape
    (None, 3)
"""

from __future__ import annotations

from typing import Any

import keras

__all__ = ["tiny_convnet"]
__version__ = "0.1.0"


def tiny_convnet(
    input_shape: tuple[int, int, int],
    weights: str | None = None,
    *,
    filters: int = 8,
    **kwargs: Any,
) -> keras.Model:
    """Two conv blocks, a few thousand parameters: a stand-in for a real backbone.

    Args:
        input_shape: ``(height, width, channels)`` of the (already preprocessed) input.
        weights: ``None`` or a path to a ``.weights.h5`` file of this backbone.
            ``"imagenet"`` is not available and raises ``ValueError``.
        filters: Filters of the first conv layer (doubled in the second).
        **kwargs: Unused; accepted so newer xraycls arguments do not break the plugin.

    Returns:
        A headless ``keras.Model`` whose output is a 4-D feature map.
    """
    if weights == "imagenet":
        raise ValueError("tiny_convnet has no ImageNet weights")
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name="tiny_conv1")(
        inputs
    )
    x = keras.layers.MaxPooling2D(2, name="tiny_pool1")(x)
    x = keras.layers.Conv2D(2 * filters, 3, padding="same", activation="relu", name="tiny_conv2")(x)
    model = keras.Model(inputs, x, name="tiny_convnet_backbone")
    if weights is not None:
        model.load_weights(weights)
    return model


# Optional metadata read by xraycls (defaults: "none", (), (224, 224, 3), 32, first doc line).
tiny_convnet.preprocessing = "tf"  # type: ignore[attr-defined]
tiny_convnet.aliases = ("TinyConvNet",)  # type: ignore[attr-defined]
tiny_convnet.default_input_shape = (64, 64, 3)  # type: ignore[attr-defined]
tiny_convnet.min_input_size = 8  # type: ignore[attr-defined]
tiny_convnet.description = "Example plugin backbone (2 conv layers)"  # type: ignore[attr-defined]
