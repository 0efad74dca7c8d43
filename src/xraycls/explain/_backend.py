"""The gradient seam: the only place in ``xraycls.explain`` that talks to TensorFlow.

Everything else in the package uses ``keras.ops``. A JAX or PyTorch seam would add one function
with the same signature to :data:`_SEAMS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from xraycls.errors import ConfigError

Tensor = Any
FeatureFn = Callable[[Tensor], Tensor]
HeadFn = Callable[[Tensor], Tensor]


def _select_scores(logits: Tensor, class_index: Tensor | None) -> tuple[Tensor, Tensor]:
    """Return (per-image score of the chosen class, chosen class per image)."""
    ops = keras.ops
    if class_index is None:
        class_index = ops.argmax(logits, axis=-1)
    class_index = ops.cast(class_index, "int32")
    one_hot = ops.one_hot(class_index, ops.shape(logits)[-1], dtype=logits.dtype)
    return ops.sum(logits * one_hot, axis=-1), class_index


def _tf_gradients(
    features_fn: FeatureFn, head_fn: HeadFn, images: Tensor, class_index: Tensor | None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    import tensorflow as tf

    features = features_fn(images)
    with tf.GradientTape() as tape:
        # Watching the feature maps (not the weights) makes this work for frozen backbones too,
        # and the backward pass stops at the target layer instead of running into the backbone.
        tape.watch(features)
        logits = head_fn(features)
        scores, chosen = _select_scores(logits, class_index)
        # Images are independent in inference mode, so the gradient of the batch sum is each
        # image's own gradient: one backward pass for the whole batch.
        total = tf.reduce_sum(scores)
    grads = tape.gradient(total, features)
    if grads is None:  # the head does not depend on the features at all
        grads = tf.zeros_like(features)
    return features, grads, logits, chosen


_SEAMS: dict[str, Callable[..., tuple[Tensor, Tensor, Tensor, Tensor]]] = {
    "tensorflow": _tf_gradients,
}


def feature_gradients(
    features_fn: FeatureFn, head_fn: HeadFn, images: Tensor, class_index: Tensor | None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Run the model once forward and once backward for a whole batch.

    Args:
        features_fn: Maps an image batch to the target layer's feature maps ``(N, h, w, C)``.
        head_fn: Maps feature maps to pre-softmax class scores ``(N, K)``.
        images: Float32 image batch, NHWC, values in ``[0, 255]``.
        class_index: Class to explain per image (int tensor ``(N,)``), or ``None`` for the
            highest-scoring class.

    Returns:
        ``(features, d score / d features, logits, explained class per image)``.

    Raises:
        ConfigError: The Keras backend has no gradient seam.
    """
    backend = keras.backend.backend()
    seam = _SEAMS.get(backend)
    if seam is None:
        raise ConfigError(
            f"Gradient-based CAM is implemented for the Keras backends {sorted(_SEAMS)}, "
            f"not {backend!r}; set KERAS_BACKEND=tensorflow or use method='cam'."
        )
    return seam(features_fn, head_fn, images, class_index)
