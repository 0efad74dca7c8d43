"""The gradient seam: the only place in ``xraycls.explain`` that talks to a backend's autodiff.

Everything else in the package uses ``keras.ops``. Keras 3 has no backend-neutral gradient op,
so each backend gets one small function with the same signature in :data:`_SEAMS`:
TensorFlow's ``GradientTape``, JAX's ``jax.grad`` and PyTorch's ``torch.autograd.grad``. Each
imports its framework inside the function, so this module imports under any backend.
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


def _jax_gradients(
    features_fn: FeatureFn, head_fn: HeadFn, images: Tensor, class_index: Tensor | None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    import jax
    import jax.numpy as jnp

    features = features_fn(images)

    def total(maps: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        # A pure function of the feature maps: in inference mode the head reads its weights
        # and moving statistics but writes no state, so tracing it under jax.grad is safe.
        logits = head_fn(maps)
        scores, chosen = _select_scores(logits, class_index)
        return jnp.sum(scores), (logits, chosen)

    grads, (logits, chosen) = jax.grad(total, has_aux=True)(features)
    return features, grads, logits, chosen


def _torch_gradients(
    features_fn: FeatureFn, head_fn: HeadFn, images: Tensor, class_index: Tensor | None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    import torch

    with torch.no_grad():
        features = features_fn(images)
    # A leaf that requires grad: the backward pass stops at the target layer, as with TF's
    # tape.watch(features), and works for frozen backbones.
    features = features.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = head_fn(features)
        scores, chosen = _select_scores(logits, class_index)
        total = torch.sum(scores)
    if total.requires_grad:
        (grads,) = torch.autograd.grad(total, features, allow_unused=True)
    else:  # the head does not depend on the features at all
        grads = None
    if grads is None:
        grads = torch.zeros_like(features)
    return features.detach(), grads, logits.detach(), chosen


_SEAMS: dict[str, Callable[..., tuple[Tensor, Tensor, Tensor, Tensor]]] = {
    "tensorflow": _tf_gradients,
    "jax": _jax_gradients,
    "torch": _torch_gradients,
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
