"""Turning what users pass as images into one float32 NHWC batch.

Reading and fitting files is :func:`xraycls.imaging.load_fitted`, the function training uses.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from xraycls.errors import ConfigError
from xraycls.imaging import Box, input_size, load_fitted


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


def check_size(batch: np.ndarray, model: Any) -> None:
    """Raise when the images are not the size the model was built for."""
    h, w = input_size(model, any_size=True)
    if (h is not None and batch.shape[1] != h) or (w is not None and batch.shape[2] != w):
        raise ConfigError(
            f"images are {batch.shape[1]}x{batch.shape[2]} (HxW) but model {model.name!r} takes "
            f"{h}x{w}; resize them first (xraycls.explain.load_images(paths, model) reads and "
            "resizes files the way the training pipeline does)."
        )


def load_fitted_batch(
    paths: Sequence[str | os.PathLike[str]],
    model: Any,
    resize: str = "pad",
    transform: Any = None,
) -> tuple[np.ndarray, list[np.ndarray], list[Box]]:
    """Read files, fit them to the model's input size; also return originals and boxes.

    The "originals" have been through the model's stored input transform (lung crop, contrast,
    text removal), so a CAM is drawn over the picture the model actually saw; ``transform``
    overrides the one attached to ``model``.
    """
    from xraycls.transforms import transform_of

    h, w = input_size(model, any_size=True)
    transform = transform_of(model) if transform is None else transform
    loaded = [load_fitted(p, h, w, resize, transform=transform) for p in paths]
    if len({fitted.shape for fitted, _, _ in loaded}) > 1:
        raise ConfigError(
            "the model accepts any input size but these images differ in size; "
            "pass them one at a time."
        )
    batch = np.stack([fitted for fitted, _, _ in loaded]).astype(np.float32)
    return batch, [original for _, original, _ in loaded], [box for _, _, box in loaded]


def load_images(
    paths: Sequence[str | os.PathLike[str]], model: Any, resize: str = "pad"
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Read image files and fit them to the model's input size the way training did.

    Args:
        paths: Image files (anything :func:`xraycls.io.load_image` reads).
        model: The model the batch is for; its input size and stored input transform are used.
        resize: ``"pad"`` (letterbox on black, the input pipeline's default), ``"stretch"``
            or ``"crop"`` (see :func:`xraycls.imaging.fit_image`).

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
    batch, originals, _ = load_fitted_batch(paths, model, resize)
    return batch, originals
