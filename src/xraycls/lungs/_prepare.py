"""Fit images to the segmenter's input and map its output back (shared by training and use)."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["Box", "letterbox_gray", "postprocess", "standardise", "to_gray", "unletterbox"]

# (top, left, height, width) of the picture inside the square input.
Box = tuple[int, int, int, int]


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` -> uint8 ``(H, W)``."""
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    if image.ndim == 3:
        return np.ascontiguousarray(image[:, :, 0])
    return np.ascontiguousarray(image)


def letterbox_gray(gray: np.ndarray, size: int) -> tuple[np.ndarray, Box]:
    """Resize a gray image into a ``size`` square keeping its aspect ratio, black padding."""
    h, w = gray.shape
    scale = size / max(h, w)
    nh, nw = max(1, min(size, round(h * scale))), max(1, min(size, round(w * scale)))
    interp = cv2.INTER_AREA if h * w > nh * nw else cv2.INTER_LINEAR
    out = np.zeros((size, size), np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top : top + nh, left : left + nw] = cv2.resize(gray, (nw, nh), interpolation=interp)
    return out, (top, left, nh, nw)


def standardise(square: np.ndarray, box: Box) -> np.ndarray:
    """Zero mean, unit variance over the picture (not the padding): contrast-invariant input."""
    top, left, nh, nw = box
    picture = square[top : top + nh, left : left + nw].astype(np.float32)
    mean, std = float(picture.mean()), float(picture.std())
    return (square.astype(np.float32) - mean) / max(std, 1.0)


def unletterbox(prob: np.ndarray, box: Box, shape: tuple[int, int]) -> np.ndarray:
    """Map a square ``(S, S)`` probability map back onto an image of ``shape``."""
    top, left, nh, nw = box
    crop = np.ascontiguousarray(prob[top : top + nh, left : left + nw])
    return cv2.resize(crop, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


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
