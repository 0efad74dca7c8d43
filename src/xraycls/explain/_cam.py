"""Class activation maps: CAM, Grad-CAM and Grad-CAM++ for any zoo model, batched."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import keras
import numpy as np

from xraycls.errors import ConfigError
from xraycls.explain._backend import feature_gradients
from xraycls.explain._images import as_batch, check_size
from xraycls.explain._target import linear_head, split_model

Method = Literal["cam", "gradcam", "gradcam++", "scorecam"]
METHODS: tuple[str, ...] = ("cam", "gradcam", "gradcam++", "scorecam")

# Below this, a map is treated as empty: it stays all-zero rather than amplifying noise.
_EPS = 1e-12


def _class_indices(
    class_index: int | Sequence[int] | np.ndarray | None, n: int
) -> np.ndarray | None:
    if class_index is None:
        return None
    arr = np.asarray(class_index)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(
            f"class_index must be None, an int or a list of ints; got {class_index!r}."
        )
    if arr.ndim == 0:
        return np.full((n,), int(arr), dtype=np.int32)
    if arr.shape != (n,):
        raise ConfigError(
            f"class_index has {arr.size} entries but there are {n} images; give one per image "
            "or a single int."
        )
    return arr.astype(np.int32)


def _check_classes(chosen: np.ndarray | None, num_classes: int) -> None:
    if chosen is not None and ((chosen < 0).any() or (chosen >= num_classes).any()):
        raise ConfigError(
            f"class_index {chosen.tolist()} out of range: the model has {num_classes} classes "
            f"(0..{num_classes - 1})."
        )


def _finish(raw: Any, size: tuple[int, int]) -> np.ndarray:
    """Upsample (N, h, w) maps to ``size``, ReLU, and scale each to a maximum of 1."""
    ops = keras.ops
    maps = ops.image.resize(
        ops.expand_dims(raw, -1), size, interpolation="bilinear", data_format="channels_last"
    )[..., 0]
    maps = ops.relu(maps)
    peak = ops.max(maps, axis=(1, 2), keepdims=True)
    # An all-zero map (zero gradient, or nothing positive) stays zero instead of 0/0 = NaN.
    safe = ops.where(peak > _EPS, peak, ops.ones_like(peak))
    maps = ops.where(peak > _EPS, maps / safe, ops.zeros_like(maps))
    return np.clip(ops.convert_to_numpy(maps).astype(np.float32), 0.0, 1.0)


def _gradcam_weights(features: Any, grads: Any) -> Any:
    return keras.ops.mean(grads, axis=(1, 2))


def _gradcampp_weights(features: Any, grads: Any) -> Any:
    # Chattopadhay et al. 2018, with the exponential-score trick that turns 2nd and 3rd
    # derivatives into powers of the first.
    ops = keras.ops
    g2 = grads * grads
    g3 = g2 * grads
    sum_a = ops.sum(features, axis=(1, 2), keepdims=True)
    denom = 2.0 * g2 + sum_a * g3
    denom = ops.where(ops.abs(denom) > _EPS, denom, ops.ones_like(denom))
    alpha = ops.where(ops.abs(grads) > 0, g2 / denom, ops.zeros_like(grads))
    return ops.sum(alpha * ops.relu(grads), axis=(1, 2))


def _scorecam_weights(
    split: Any, features: Any, x: Any, chosen: np.ndarray, size: tuple[int, int], chunk: int
) -> Any:
    """Score-CAM (Wang et al. 2020): each feature map, upsampled and scaled to [0, 1], masks the
    image; the class score (logit) of the masked image, softmaxed over the maps, is that map's
    weight. Logits rather than probabilities: softmax over values squeezed into [0, 1] would
    make the weights almost uniform.

    Forward passes only, ``C`` per image, run ``chunk`` masked images at a time; masks are built
    per image so memory stays at one image's ``(H, W, C)``.
    """
    ops = keras.ops
    n, channels = int(features.shape[0]), int(features.shape[-1])
    scores = np.zeros((n, channels), dtype=np.float32)
    for i in range(n):
        masks = ops.image.resize(features[i : i + 1], size, interpolation="bilinear")[0]
        low = ops.min(masks, axis=(0, 1), keepdims=True)
        span = ops.max(masks, axis=(0, 1), keepdims=True) - low
        masks = ops.where(span > _EPS, (masks - low) / ops.where(span > _EPS, span, 1.0), 0.0)
        masks = ops.transpose(masks, (2, 0, 1))[..., None]  # (C, H, W, 1)
        for start in range(0, channels, chunk):
            masked = x[i : i + 1] * masks[start : start + chunk]
            logits = ops.cast(split.head(split.features(masked)), "float32")
            scores[i, start : start + chunk] = ops.convert_to_numpy(logits[:, int(chosen[i])])
    return ops.softmax(ops.convert_to_tensor(scores), axis=-1)


def cam(
    model: keras.Model,
    images: Any,
    class_index: int | Sequence[int] | np.ndarray | None = None,
    method: Method | str = "gradcam",
    *,
    layer: str | None = None,
    chunk: int = 64,
) -> np.ndarray:
    """Class activation maps for a batch of images, in one forward and one backward pass.

    Args:
        model: A classifier (any zoo model, built-in or plugin, also with a nested backbone).
        images: uint8 or float images with values in ``[0, 255]``, ``(N, H, W, 3)`` or one
            ``(H, W, 3)`` image, at the model's input size (see
            :func:`xraycls.explain.load_images` for files of any size).
        class_index: ``None`` explains each image's predicted class; an int explains that class
            for every image; a list gives one class per image.
        method: ``"gradcam"`` (default, any head), ``"gradcam++"``, ``"cam"`` (the original
            CAM; only for a global-average-pooling + single Dense head), or ``"scorecam"``
            (gradient-free; one forward pass per feature map and image, so slow on big
            backbones).
        layer: Layer to take feature maps from, by name or ``"submodel/layer"`` path; default
            :func:`find_target_layer`.
        chunk: Masked images per forward pass for ``"scorecam"`` (ignored otherwise).

    Returns:
        float32 ``(N, H, W)`` maps in ``[0, 1]`` at the input size; each non-empty map has a
        maximum of 1, and a map with no positive evidence is all zeros.

    Raises:
        ConfigError: Unknown method or layer, bad image shape/size, class index out of range,
            or ``method="cam"`` on a head it is not defined for.

    Examples:
        >>> import numpy as np, xraycls
        >>> model = xraycls.build_model("simple_cnn", input_shape=(32, 32, 3), width=4)
        >>> images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
        >>> xraycls.cam(model, images).shape
        (2, 32, 32)
    """
    if method not in METHODS:
        raise ConfigError(f"method={method!r} is not one of {list(METHODS)}.")
    if chunk < 1:
        raise ConfigError(f"chunk={chunk} must be at least 1.")
    batch = as_batch(images)
    check_size(batch, model)
    n, h, w = batch.shape[:3]
    chosen = _class_indices(class_index, n)
    split = split_model(model, layer)
    x = keras.ops.convert_to_tensor(batch)

    if method == "cam":
        dense = linear_head(split)
        num_classes = int(dense.kernel.shape[-1])
        _check_classes(chosen, num_classes)
        features = split.features(x)
        if chosen is None:
            chosen = keras.ops.convert_to_numpy(
                keras.ops.argmax(split.head(features), axis=-1)
            ).astype(np.int32)
        # (C, K) -> (N, C): the predicted class's weights of the final Dense, per image.
        weights = keras.ops.transpose(keras.ops.take(dense.kernel, chosen, axis=1))
    elif method == "scorecam":
        _check_classes(chosen, int(model.outputs[0].shape[-1]))
        features = keras.ops.cast(split.features(x), "float32")
        if chosen is None:
            chosen = keras.ops.convert_to_numpy(
                keras.ops.argmax(split.head(features), axis=-1)
            ).astype(np.int32)
        weights = _scorecam_weights(split, features, x, chosen, (h, w), chunk)
    else:
        num_classes = int(model.outputs[0].shape[-1])
        _check_classes(chosen, num_classes)
        cls = None if chosen is None else keras.ops.convert_to_tensor(chosen)
        features, grads, _, _ = feature_gradients(split.features, split.head, x, cls)
        pick = _gradcam_weights if method == "gradcam" else _gradcampp_weights
        features = keras.ops.cast(features, "float32")
        weights = pick(features, keras.ops.cast(grads, "float32"))

    # float32 for the weighted sum, also under a mixed-precision (float16) policy.
    features = keras.ops.cast(features, "float32")
    raw = keras.ops.einsum("nhwc,nc->nhw", features, keras.ops.cast(weights, "float32"))
    return _finish(raw, (h, w))
