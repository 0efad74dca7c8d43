"""The paper's classification head, added on top of every backbone.

GlobalAveragePooling2D -> Dense(512, relu) -> BatchNormalization -> Dropout -> Dense(softmax),
with the layer names other modules rely on (``head_pool``, ``head_dense``, ``head_bn``,
``head_dropout``, ``predictions``).

Examples:
    >>> import keras
    >>> from xraycls.zoo._head import add_head
    >>> features = keras.Input((4, 4, 8))
    >>> model = keras.Model(features, add_head(features, num_classes=3, head_width=16))
    >>> model.get_layer("predictions").units
    3
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

__all__ = ["HEAD_LAYER_NAMES", "add_head"]

#: The head's layer names, input to output.
HEAD_LAYER_NAMES: tuple[str, ...] = (
    "head_pool",
    "head_dense",
    "head_bn",
    "head_dropout",
    "predictions",
)


def add_head(
    features: Any,
    num_classes: int,
    *,
    head_width: int = 512,
    dropout: float = 0.5,
    seed: int | None = None,
) -> Any:
    """Add the paper's head to a 4-D feature map tensor and return the class probabilities.

    Args:
        features: Symbolic tensor ``(batch, h, w, channels)``.
        num_classes: Units of the softmax layer.
        head_width: Units of the hidden dense layer (the paper: 512).
        dropout: Dropout rate after the batch normalisation.
        seed: Seed of the dropout masks (default: drawn from NumPy's global generator, which
            ``keras.utils.set_random_seed`` seeds). Always set: an unseeded Keras ``Dropout``
            draws its masks from PyTorch's global generator on that backend, whose state a
            checkpoint does not hold, so a resumed run would not repeat an uninterrupted one.

    Returns:
        The symbolic softmax output ``(batch, num_classes)``.
    """
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(features)
    x = keras.layers.Dense(head_width, activation="relu", name="head_dense")(x)
    x = keras.layers.BatchNormalization(name="head_bn")(x)
    if seed is None:
        seed = int(np.random.randint(0, 2**31 - 1))
    x = keras.layers.Dropout(dropout, seed=int(seed), name="head_dropout")(x)
    # float32 softmax keeps probabilities exact under a mixed-precision policy.
    return keras.layers.Dense(
        num_classes, activation="softmax", dtype="float32", name="predictions"
    )(x)
