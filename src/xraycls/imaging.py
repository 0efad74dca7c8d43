"""Fitting images to a model: the one resize/letterbox function, its inverse, the input size.

Training (the input pipeline), prediction (``Classifier``), evaluation and CAM all call
:func:`load_fitted` / :func:`fit_image` from here, so every part of xraycls feeds a model exactly
the pixels training fed it, whatever the resize mode. This module sits just above
:mod:`xraycls.io` in the layer table: NumPy and OpenCV only, no Keras, no TensorFlow.

Examples:
    >>> import numpy as np
    >>> from xraycls.imaging import fit_image, unfit
    >>> wide = np.full((20, 40, 3), 255, np.uint8)
    >>> fitted, box = fit_image(wide, 32, 32, "pad")
    >>> fitted.shape, int(fitted[0, 16, 0]), int(fitted[16, 16, 0])
    ((32, 32, 3), 0, 255)
    >>> box.top, box.height
    (8, 16)
    >>> unfit(np.ones((32, 32), np.float32), box, wide.shape).shape
    (20, 40)
"""

from __future__ import annotations

import os
from typing import Any, Literal, NamedTuple, overload

import cv2
import numpy as np

from xraycls.errors import ConfigError, ImageReadError
from xraycls.io import load_image

__all__ = [
    "MAX_IMAGE_SIZE",
    "RESIZE_MODES",
    "Box",
    "as_image",
    "as_rgb",
    "fit_image",
    "input_size",
    "load_fitted",
    "unfit",
]

#: Largest model input side in pixels. Radiograph classifiers use 224-1024; a stored shape
#: above this (200000x200000 in a damaged or hostile file) would allocate hundreds of GB the
#: first time an image is fitted to it, so it is refused when the model is loaded.
MAX_IMAGE_SIZE = 2048

#: How an image is fitted to the model's input size (see :func:`fit_image`).
RESIZE_MODES = ("pad", "stretch", "crop")


class Box(NamedTuple):
    """Where a fitted image came from, so a map at model size can be put back.

    ``top, left, height, width`` is the part of the fitted (model-sized) image that shows the
    picture (smaller than the whole under ``"pad"``); ``src_*`` is the part of the original
    image it shows (smaller than the whole under ``"crop"``); ``image_height, image_width`` is
    the original's size.
    """

    top: int
    left: int
    height: int
    width: int
    src_top: int
    src_left: int
    src_height: int
    src_width: int
    image_height: int
    image_width: int


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    # Area interpolation avoids aliasing when shrinking; linear is smoother when enlarging.
    shrink = image.shape[0] * image.shape[1] > height * width
    out = cv2.resize(
        image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    return out if out.ndim == 3 else out[:, :, None]


def fit_image(
    image: np.ndarray, height: int, width: int, mode: str = "pad"
) -> tuple[np.ndarray, Box]:
    """Resize one ``uint8`` ``(H, W, C)`` image to ``(height, width, C)``.

    Args:
        image: The picture, ``uint8`` ``(H, W, C)``.
        height: Target height.
        width: Target width.
        mode: ``"pad"`` letterboxes (keeps the aspect ratio, centres the picture on black);
            ``"stretch"`` resizes each axis independently; ``"crop"`` takes the largest
            centred crop with the target aspect ratio and resizes it.

    Returns:
        ``(fitted, box)``: the model-sized image and the :class:`Box` that maps it back.

    Raises:
        ConfigError: Unknown ``mode`` or a target size below 1.

    Examples:
        >>> import numpy as np
        >>> tall = np.zeros((40, 20, 3), np.uint8)
        >>> fit_image(tall, 10, 10, "crop")[1][4:8]
        (10, 0, 20, 20)
    """
    if mode not in RESIZE_MODES:
        raise ConfigError(f"resize={mode!r} is not one of {list(RESIZE_MODES)}")
    if min(height, width) < 1:
        raise ConfigError(f"image size {height}x{width}: height and width must be >= 1")
    h, w = image.shape[:2]
    if mode == "stretch":
        return _resize(image, height, width), Box(0, 0, height, width, 0, 0, h, w, h, w)
    if mode == "crop":
        scale = max(height / h, width / w)
        ch, cw = min(h, round(height / scale)), min(w, round(width / scale))
        top, left = (h - ch) // 2, (w - cw) // 2
        out = _resize(image[top : top + ch, left : left + cw], height, width)
        return out, Box(0, 0, height, width, top, left, ch, cw, h, w)
    scale = min(height / h, width / w)
    nh, nw = max(1, min(height, round(h * scale))), max(1, min(width, round(w * scale)))
    out = np.zeros((height, width, image.shape[2]), np.uint8)
    top, left = (height - nh) // 2, (width - nw) // 2
    out[top : top + nh, left : left + nw] = _resize(image, nh, nw)
    return out, Box(top, left, nh, nw, 0, 0, h, w, h, w)


def unfit(heat: np.ndarray, box: Box, shape: tuple[int, ...]) -> np.ndarray:
    """Map an ``(H, W)`` map at model size back onto an image of ``shape``.

    ``shape`` is the original's shape or that of a resized copy of it (a thumbnail); parts of
    the original that the model never saw (cut off by ``"crop"``) get 0.

    Examples:
        >>> import numpy as np
        >>> _, box = fit_image(np.zeros((40, 20, 3), np.uint8), 10, 10, "crop")
        >>> back = unfit(np.ones((10, 10), np.float32), box, (40, 20, 3))
        >>> float(back[0, 0]), float(back[20, 10])
        (0.0, 1.0)
    """
    crop = np.ascontiguousarray(
        heat[box.top : box.top + box.height, box.left : box.left + box.width]
    )
    out_h, out_w = int(shape[0]), int(shape[1])
    sy, sx = out_h / box.image_height, out_w / box.image_width
    top, left = round(box.src_top * sy), round(box.src_left * sx)
    bottom = max(top + 1, min(out_h, round((box.src_top + box.src_height) * sy)))
    right = max(left + 1, min(out_w, round((box.src_left + box.src_width) * sx)))
    placed = cv2.resize(crop, (right - left, bottom - top), interpolation=cv2.INTER_LINEAR)
    if (top, left, bottom, right) == (0, 0, out_h, out_w):
        return placed
    out = np.zeros((out_h, out_w, *placed.shape[2:]), placed.dtype)
    out[top:bottom, left:right] = placed
    return out


def as_image(
    image: Any,
    name: str = "image",
    *,
    dtypes: tuple[type[np.generic], ...] | None = (np.uint8,),
    channels: tuple[int, ...] = (1, 3),
    min_size: int = 1,
    purpose: str = "",
    rgb: bool = False,
) -> np.ndarray:
    """The one check that an array is an image; every in-memory image in xraycls goes through it.

    Args:
        image: The array to check (a numpy array; lists are refused, not guessed at).
        name: How the error names it (``"images[3] (a.png)"``).
        dtypes: The dtypes accepted; ``None`` accepts any integer or floating dtype.
        channels: Channel counts accepted for ``(H, W, C)``; ``(H, W)`` is always gray.
        min_size: Smallest height and width.
        purpose: Appended to "too small" in the error (e.g. ``" to segment"``).
        rgb: Return ``(H, W, 3)``, gray replicated (only with ``channels`` 1 and 3).

    Returns:
        ``image`` itself (no copy), or the replicated RGB image when ``rgb`` is true.

    Raises:
        ConfigError: Not a numpy array, another dtype, another shape, or too small.

    Examples:
        >>> import numpy as np
        >>> as_image(np.zeros((4, 4), np.uint8), rgb=True).shape
        (4, 4, 3)
        >>> as_image(np.zeros((4, 4), np.float32), "scan")
        Traceback (most recent call last):
        ...
        xraycls.errors.ConfigError: scan: expected a uint8 image, got dtype float32; ...
    """
    allowed = "numeric" if dtypes is None else " or ".join(np.dtype(d).name for d in dtypes)
    if not isinstance(image, np.ndarray):
        raise ConfigError(
            f"{name}: expected a numpy array ({allowed} image), got {type(image).__name__}"
        )
    if not (
        image.dtype in dtypes
        if dtypes is not None
        else np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)
    ):
        raise ConfigError(
            f"{name}: expected a {allowed} image, got dtype {image.dtype}; convert with "
            "np.clip(x, 0, 255).astype(np.uint8)"
        )
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in channels)):
        shapes = ", ".join(f"(H, W, {c})" for c in channels[:-1])
        raise ConfigError(
            f"{name}: expected an image array of shape (H, W), {shapes} or (H, W, "
            f"{channels[-1]}) (colour in RGB order), got shape {image.shape}"
        )
    if min(image.shape[:2]) < min_size:
        raise ConfigError(
            f"{name}: image of shape {image.shape} is too small{purpose} (the least is "
            f"{min_size}x{min_size})"
        )
    if rgb and (image.ndim == 2 or image.shape[2] == 1):
        return np.repeat(image.reshape(*image.shape[:2], 1), 3, axis=2)
    return image


def as_rgb(image: Any, name: str = "image") -> np.ndarray:
    """An in-memory picture as ``uint8`` ``(H, W, 3)``, the way :func:`xraycls.io.load_image`
    returns files: gray replicated, alpha composited on black, values clipped to ``[0, 255]``.

    Raises:
        ConfigError: Not a numeric ``(H, W)``/``(H, W, 1|3|4)`` array, or non-finite values.

    Examples:
        >>> import numpy as np
        >>> as_rgb(np.full((2, 3), 7, np.uint8)).shape
        (2, 3, 3)
    """
    arr = as_image(np.asarray(image), name, dtypes=None, channels=(1, 3, 4))
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
            raise ConfigError(f"{name}: the image contains NaN or infinite values")
        arr = np.clip(arr, 0, 255)
    if arr.shape[2] == 4:  # alpha composited on black, as load_image does
        arr = arr[:, :, :3] * (arr[:, :, 3:] / 255.0)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return arr if arr.dtype == np.uint8 else arr.astype(np.uint8)


def load_fitted(
    source: str | os.PathLike[str] | np.ndarray,
    height: int | None,
    width: int | None,
    mode: str = "pad",
    *,
    name: str | None = None,
    transform: Any = None,
) -> tuple[np.ndarray, np.ndarray, Box]:
    """Read a file (or take an array) and fit it to a model's input: the one way in.

    Args:
        source: An image file (anything :func:`xraycls.io.load_image` reads) or an in-memory
            picture (see :func:`as_rgb`).
        height: Target height; ``None`` keeps the picture's (models that take any size).
        width: Target width; ``None`` keeps the picture's.
        mode: ``"pad"``, ``"stretch"`` or ``"crop"`` (see :func:`fit_image`).
        name: What to call an in-memory picture in error messages.
        transform: An input transform stored with the model (an
            :class:`xraycls.transforms.InputTransform`: anything with ``is_identity`` and
            ``apply(image) -> image``), applied to the picture before fitting; ``None`` for none.

    Returns:
        ``(fitted, original, box)``: the ``uint8`` model-sized image, the picture as read
        (``uint8`` RGB, original size) and the :class:`Box` mapping one onto the other.

    Raises:
        ImageReadError: The file cannot be read or resized (the path is in the message).
        ConfigError: A malformed array or an unknown ``mode``.

    Examples:
        >>> import numpy as np
        >>> fitted, original, box = load_fitted(np.zeros((20, 40), np.uint8), 32, 32)
        >>> fitted.shape, original.shape
        ((32, 32, 3), (20, 40, 3))
    """
    if isinstance(source, np.ndarray):
        original = as_rgb(source, name or "image")
    else:
        original = load_image(source)
    if transform is not None and not transform.is_identity:
        original = transform.apply(original)
    h = original.shape[0] if height is None else int(height)
    w = original.shape[1] if width is None else int(width)
    try:
        fitted, box = fit_image(original, h, w, mode)
    except cv2.error as exc:  # pragma: no cover - defensive: odd sizes OpenCV refuses
        where = name or (os.fspath(source) if not isinstance(source, np.ndarray) else "image")
        raise ImageReadError(where, f"cannot resize to {h}x{w}: {exc}") from None
    return fitted, original, box


@overload
def input_size(model: Any, *, any_size: Literal[False] = ...) -> tuple[int, int]: ...
@overload
def input_size(model: Any, *, any_size: Literal[True]) -> tuple[int | None, int | None]: ...
def input_size(model: Any, *, any_size: bool = False) -> tuple[int | None, int | None]:
    """``(height, width)`` of an image model's input (NHWC).

    Args:
        model: A Keras model (anything with ``inputs`` or ``input_shape``).
        any_size: Allow a model that accepts any size; its unknown sides come back as
            ``None``. Default: such a model is an error.

    Raises:
        ConfigError: The input is not an NHWC image batch (or not a fixed size when
            ``any_size`` is false), or a side is above :data:`MAX_IMAGE_SIZE`.

    Examples:
        >>> import keras
        >>> input_size(keras.Sequential([keras.Input((32, 48, 3)), keras.layers.Flatten()]))
        (32, 48)
        >>> inp = keras.Input((None, None, 3))
        >>> input_size(keras.Model(inp, keras.layers.Conv2D(1, 1)(inp)), any_size=True)
        (None, None)
    """
    inputs = getattr(model, "inputs", None)
    shape = tuple(inputs[0].shape) if inputs else model.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    label = getattr(model, "name", type(model).__name__)
    if len(shape) != 4:
        raise ConfigError(f"model {label!r} takes input shape {tuple(shape)}, not NHWC images")
    h, w = shape[1], shape[2]
    if not any_size and (h is None or w is None):
        raise ConfigError(
            f"model {label!r}: the input shape {tuple(shape)} is not a fixed-size image batch "
            "(N, H, W, C)"
        )
    too_big = [int(d) for d in (h, w) if d is not None and int(d) > MAX_IMAGE_SIZE]
    if too_big:
        raise ConfigError(
            f"model {label!r}: its stored input size {h}x{w} is above the maximum of "
            f"{MAX_IMAGE_SIZE} pixels a side (xraycls.imaging.MAX_IMAGE_SIZE); the file is "
            "damaged or was not made for xraycls"
        )
    return (None if h is None else int(h)), (None if w is None else int(w))
