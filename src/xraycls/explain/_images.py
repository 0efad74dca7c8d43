"""Turning what users pass as images into one float32 NHWC batch."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from xraycls.errors import ConfigError


def as_batch(images: Any, name: str = "images") -> np.ndarray:
    """Return ``images`` as float32 ``(N, H, W, 3)``; a single ``(H, W, 3)`` image gets N=1.

    Raises:
        ConfigError: Wrong rank, channel count, dtype or non-finite values.
    """
    arr = np.asarray(images)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ConfigError(f"{name} must be a numeric array (uint8 or float in [0, 255]).")
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ConfigError(
            f"{name} must be (N, H, W, 3) or one (H, W, 3) RGB image; got shape {arr.shape}."
        )
    if arr.shape[0] == 0:
        raise ConfigError(f"{name} is an empty batch.")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise ConfigError(f"{name} contains NaN or infinite values.")
    return arr


def input_size(model: Any) -> tuple[int | None, int | None]:
    """The model's expected (height, width); ``None`` where the model accepts any size."""
    shape = model.inputs[0].shape
    if len(shape) != 4:
        raise ConfigError(
            f"model {model.name!r} takes input shape {tuple(shape)}, not NHWC images."
        )
    return shape[1], shape[2]


def check_size(batch: np.ndarray, model: Any) -> None:
    """Raise when the images are not the size the model was built for."""
    h, w = input_size(model)
    if (h is not None and batch.shape[1] != h) or (w is not None and batch.shape[2] != w):
        raise ConfigError(
            f"images are {batch.shape[1]}x{batch.shape[2]} (HxW) but model {model.name!r} takes "
            f"{h}x{w}; resize them first (xraycls.explain.load_images(paths, model) reads and "
            "resizes files the way the training pipeline does)."
        )


RESIZE_MODES = ("pad", "stretch")

# (top, left, height, width) of the picture inside the model-sized image.
Box = tuple[int, int, int, int]


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    # Same choice as the input pipeline: area when shrinking, linear when enlarging.
    interp = (
        cv2.INTER_AREA if image.shape[0] * image.shape[1] > height * width else cv2.INTER_LINEAR
    )
    out = cv2.resize(image, (width, height), interpolation=interp)
    return out if out.ndim == 3 else out[:, :, None]


def fit(image: np.ndarray, height: int, width: int, mode: str = "pad") -> tuple[np.ndarray, Box]:
    """Resize one uint8 HWC image like the input pipeline (``"pad"`` letterbox or ``"stretch"``).

    Returns the resized image and the box it occupies, so a map can be mapped back.
    """
    if mode not in RESIZE_MODES:
        raise ConfigError(f"resize={mode!r} is not one of {list(RESIZE_MODES)}.")
    h, w = image.shape[:2]
    if mode == "stretch":
        return _resize(image, height, width), (0, 0, height, width)
    scale = min(height / h, width / w)
    nh, nw = max(1, min(height, round(h * scale))), max(1, min(width, round(w * scale)))
    out = np.zeros((height, width, image.shape[2]), np.uint8)
    top, left = (height - nh) // 2, (width - nw) // 2
    out[top : top + nh, left : left + nw] = _resize(image, nh, nw)
    return out, (top, left, nh, nw)


def unfit(heat: np.ndarray, box: Box, shape: tuple[int, ...]) -> np.ndarray:
    """Map an ``(H, W)`` map at model size back onto the original image of ``shape``."""
    top, left, nh, nw = box
    crop = np.ascontiguousarray(heat[top : top + nh, left : left + nw])
    return cv2.resize(crop, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def read_fitted(
    paths: Sequence[str | os.PathLike[str]], model: Any, resize: str = "pad"
) -> tuple[np.ndarray, list[np.ndarray], list[Box]]:
    """Read files, fit them to the model's input size; also return originals and boxes.

    The "originals" have been through the model's stored input transform (lung crop, contrast,
    text removal), so a CAM is drawn over the picture the model actually saw.
    """
    from xraycls.io import read_image
    from xraycls.transforms import transform_of

    h, w = input_size(model)
    transform = transform_of(model)
    originals = [transform.apply(read_image(p)) for p in paths]
    fitted = [fit(img, h or img.shape[0], w or img.shape[1], resize) for img in originals]
    if len({f[0].shape for f in fitted}) > 1:
        raise ConfigError(
            "the model accepts any input size but these images differ in size; "
            "pass them one at a time."
        )
    batch = np.stack([f[0] for f in fitted]).astype(np.float32)
    return batch, originals, [f[1] for f in fitted]


def load_images(
    paths: Sequence[str | os.PathLike[str]], model: Any, resize: str = "pad"
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Read image files and fit them to the model's input size the way training did.

    Args:
        paths: Image files (anything :func:`xraycls.io.read_image` reads).
        model: The model the batch is for; its input size and stored input transform are used.
        resize: ``"pad"`` (letterbox on black, the input pipeline's default) or ``"stretch"``.

    Returns:
        ``(batch, originals)``: a float32 ``(N, H, W, 3)`` batch at the model's input size, and
        the images as read and passed through the model's input transform (uint8).

    Raises:
        ImageReadError: A file cannot be read.
        ConfigError: Unknown ``resize`` mode.

    Examples:
        >>> from xraycls.explain import load_images
        >>> batch, originals = load_images(["scan.png"], model)  # doctest: +SKIP
        >>> batch.shape  # doctest: +SKIP
        (1, 128, 128, 3)
    """
    batch, originals, _ = read_fitted(paths, model, resize)
    return batch, originals
