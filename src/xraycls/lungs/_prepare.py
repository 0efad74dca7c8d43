"""Fit images to the segmenter's input and map its output back (shared by training and use)."""

from __future__ import annotations

import cv2
import numpy as np

from xraycls.imaging import Box, fit_image

__all__ = ["letterbox_gray", "postprocess", "standardise", "to_gray"]


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` -> uint8 ``(H, W)``."""
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    if image.ndim == 3:
        return np.ascontiguousarray(image[:, :, 0])
    return np.ascontiguousarray(image)


def letterbox_gray(gray: np.ndarray, size: int) -> tuple[np.ndarray, Box]:
    """Fit a gray ``(H, W)`` image into a ``size`` square the way the classifiers' ``"pad"``
    mode does (:func:`xraycls.imaging.fit_image`); :func:`xraycls.imaging.unfit` maps the
    segmenter's output back."""
    square, box = fit_image(gray[:, :, None], size, size, "pad")
    return square[:, :, 0], box


def standardise(square: np.ndarray, box: Box) -> np.ndarray:
    """Zero mean, unit variance over the picture (not the padding): contrast-invariant input."""
    picture = square[box.top : box.top + box.height, box.left : box.left + box.width]
    picture = picture.astype(np.float32)
    mean, std = float(picture.mean()), float(picture.std())
    return (square.astype(np.float32) - mean) / max(std, 1.0)


def postprocess(mask: np.ndarray, min_share: float = 0.1) -> np.ndarray:
    """Keep the two largest blobs (the lungs), drop specks, fill holes.

    A blob is kept when it is one of the two largest and at least ``min_share`` of the
    largest one: a real second lung is never a tenth of the first, while stray specks on
    bowel gas, the shoulders or text are.
    """
    u8 = mask.astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(u8, connectivity=8)
    if n <= 1:
        return np.zeros(mask.shape, bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    order = np.argsort(areas)[::-1][:2]
    keep = [i + 1 for i in order if areas[i] >= min_share * areas[order[0]]]
    kept = np.isin(labels, keep).astype(np.uint8)
    # Filling the outer contours removes holes (a nodule or a pacemaker inside a lung).
    contours, _ = cv2.findContours(kept, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(kept)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)
