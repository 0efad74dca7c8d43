"""``simple_cnn``: a small from-scratch CNN that trains in minutes on a CPU.

``depth`` blocks of Conv3x3 -> BatchNorm -> ReLU; the first ``depth - 1`` end with a 2x2 max
pool. Block ``i`` has ``width * 2**i`` filters. The defaults (``width=32``, ``depth=4``) give
about 390k backbone parameters (520k with the head); ``width=4`` gives a tiny test model. The
last conv layer is ``block{depth}_conv`` (the CAM target).

Examples:
    >>> from xraycls.zoo.families.simple_cnn import simple_cnn
    >>> simple_cnn((32, 32, 3), width=4).output.shape
    (None, 4, 4, 32)
"""

from __future__ import annotations

from typing import Any

import keras

from xraycls.errors import ConfigError, WeightsError
from xraycls.zoo._registry import BackboneSpec, _register_builtin

__all__ = ["simple_cnn"]


def simple_cnn(
    input_shape: tuple[int, int, int],
    weights: str | None = None,
    *,
    input_tensor: Any = None,
    width: int = 32,
    depth: int = 4,
) -> keras.Model:
    """Build the headless ``simple_cnn`` backbone.

    Args:
        input_shape: ``(height, width, channels)``.
        weights: ``None`` or a path to this backbone's ``.weights.h5`` file.
        input_tensor: Build on this tensor instead of a new ``Input`` (flat model).
        width: Filters of the first block; doubles every block.
        depth: Number of conv blocks.

    Returns:
        A ``keras.Model`` whose output is the last block's feature map.

    Raises:
        ConfigError: ``width`` or ``depth`` is not a positive int.
        WeightsError: ``weights="imagenet"`` (there are none).

    Examples:
        >>> simple_cnn((16, 16, 3), width=2, depth=2).count_params()
        150
    """
    for arg, value in (("width", width), ("depth", depth)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"simple_cnn: {arg} must be a positive int, got {value!r}")
    if weights == "imagenet":
        raise WeightsError("simple_cnn is trained from scratch: it has no ImageNet weights")
    inputs = keras.Input(input_shape, name="image") if input_tensor is None else input_tensor
    x = inputs
    for i in range(1, depth + 1):
        x = keras.layers.Conv2D(
            width * 2 ** (i - 1), 3, padding="same", use_bias=False, name=f"block{i}_conv"
        )(x)
        x = keras.layers.BatchNormalization(name=f"block{i}_bn")(x)
        x = keras.layers.Activation("relu", name=f"block{i}_relu")(x)
        if i < depth:
            x = keras.layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    source = keras.utils.get_source_inputs(inputs) if input_tensor is not None else inputs
    model = keras.Model(source, x, name="simple_cnn")
    if weights is not None:
        model.load_weights(weights)
    return model


_register_builtin(
    BackboneSpec(
        name="simple_cnn",
        aliases=("simplecnn", "SimpleCNN"),
        factory=simple_cnn,
        preprocessing="tf",
        default_input_shape=(128, 128, 3),
        # three 2x2 pools: 8 px still leaves a 1x1 feature map
        min_input_size=8,
        description="Small from-scratch CNN, trains in minutes on a CPU",
        accepts_input_tensor=True,
    )
)
