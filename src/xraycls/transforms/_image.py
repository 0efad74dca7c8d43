"""Shared checks and the gray/colour plumbing of the transforms."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from xraycls.imaging import as_image

__all__ = ["check_image", "gray_of", "on_luma"]


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Return ``image`` if it is uint8 ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` and at least
    2x2 (filters need a neighbourhood), else raise: :func:`xraycls.imaging.as_image`."""
    return as_image(image, name, min_size=2)


def gray_of(image: np.ndarray) -> np.ndarray:
    """uint8 ``(H, W)`` luminance of a checked image."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return np.ascontiguousarray(image[:, :, 0])
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def on_luma(image: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply a gray->gray ``fn`` to an image's brightness, keeping its shape and colour.

    Gray images and RGB images with three equal channels (how X-rays are usually stored) go
    through the gray path exactly; a colour image has ``fn`` applied to its Y (luma) channel.
    """
    if image.ndim == 2:
        return fn(image)
    if image.shape[2] == 1:
        return fn(np.ascontiguousarray(image[:, :, 0]))[:, :, None]
    r, g, b = image[:, :, 0], image[:, :, 1], image[:, :, 2]
    if np.array_equal(r, g) and np.array_equal(g, b):
        out = fn(np.ascontiguousarray(r))
        return np.repeat(out[:, :, None], 3, axis=2)
    ycc = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2YCrCb)
    ycc[:, :, 0] = fn(np.ascontiguousarray(ycc[:, :, 0]))
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
