"""Shared checks and the gray/colour plumbing of the transforms."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from xraycls.errors import ConfigError

__all__ = ["check_image", "gray_of", "on_luma"]


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Return ``image`` if it is uint8 ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``, else raise."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ConfigError(
            f"{name}: expected a uint8 numpy image, got "
            f"{getattr(image, 'dtype', type(image).__name__)}; convert with "
            "np.clip(x, 0, 255).astype(np.uint8)"
        )
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise ConfigError(f"{name}: expected (H, W), (H, W, 1) or (H, W, 3), got {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ConfigError(f"{name}: image of shape {image.shape} is too small")
    return image


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
