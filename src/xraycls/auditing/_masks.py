"""The masked variants of an input batch and the share of a map inside the lung field.

Everything here works on images already fitted to the model's input size (``(N, H, W, 3)``
uint8) and on boolean lung masks of the same size.

Examples:
    >>> import numpy as np
    >>> from xraycls.auditing._masks import black_out_lungs, keep_lungs, lung_share
    >>> images = np.full((1, 8, 8, 3), 200, np.uint8)
    >>> masks = np.zeros((1, 8, 8), bool); masks[:, 2:6, 2:6] = True
    >>> int(black_out_lungs(images, masks)[0, 3, 3, 0])
    0
    >>> int(keep_lungs(images, masks, 0)[0, 0, 0, 0])
    0
    >>> cams = masks.astype("float32")
    >>> float(lung_share(cams, masks)[0])
    1.0
    >>> other = np.full((1, 8, 8, 3), 50, np.uint8)
    >>> swapped = swap_lungs(images[0], masks[0], other[0], masks[0], 1)
    >>> int(swapped[3, 3, 0]), int(swapped[0, 0, 0])
    (50, 200)
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "align_donor",
    "black_out_lungs",
    "dilate",
    "keep_lungs",
    "lung_share",
    "margin_pixels",
    "swap_lungs",
]


def margin_pixels(margin: float, shape: tuple[int, int]) -> int:
    """A margin given as a fraction of the longer image side, in whole pixels."""
    return max(0, round(margin * max(shape)))


def dilate(masks: np.ndarray, pixels: int) -> np.ndarray:
    """Grow each ``(H, W)`` boolean mask by ``pixels`` (a disc-shaped structuring element)."""
    if pixels <= 0:
        return masks.astype(bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return np.stack([cv2.dilate(m.astype(np.uint8), kernel) > 0 for m in masks])


def black_out_lungs(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Set every pixel inside the lung field to black (Maguolo & Nanni's border-only test)."""
    return np.where(masks[..., None], np.uint8(0), images).astype(np.uint8)


def keep_lungs(images: np.ndarray, masks: np.ndarray, pixels: int) -> np.ndarray:
    """Set every pixel farther than ``pixels`` from the lung field to black."""
    return np.where(dilate(masks, pixels)[..., None], images, np.uint8(0)).astype(np.uint8)


def lung_share(cams: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per image, the share of the map's mass inside the mask; NaN for an all-zero map."""
    cams = np.asarray(cams, dtype=np.float64)
    total = cams.sum(axis=(1, 2))
    inside = (cams * masks).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / np.where(total > 0, total, 1.0), np.nan)


def _box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(y0, y1, x0, x1)`` (exclusive ends) of a boolean mask; ``None`` when it is empty."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return None
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def align_donor(
    donor: np.ndarray, donor_mask: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``donor`` and its mask scaled and shifted so that its lung box matches ``mask``'s.

    Films differ in framing (and letterboxed ones in padding): without this, the region pasted
    over the recipient's lungs could hold the donor's shoulder, abdomen or black padding. An
    empty mask on either side leaves the donor as it is.
    """
    src, dst = _box(donor_mask), _box(mask)
    if src is None or dst is None or src == dst:
        return donor, donor_mask
    sy = (dst[1] - dst[0]) / (src[1] - src[0])
    sx = (dst[3] - dst[2]) / (src[3] - src[2])
    # Box edges map onto box edges; warpAffine works on pixel centres, hence the half pixels.
    tx = dst[2] - sx * src[2] + 0.5 * (sx - 1)
    ty = dst[0] - sy * src[0] + 0.5 * (sy - 1)
    matrix = np.array([[sx, 0, tx], [0, sy, ty]], np.float64)
    h, w = mask.shape
    image = cv2.warpAffine(donor, matrix, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    moved = cv2.warpAffine(donor_mask.astype(np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST)
    return image.reshape(donor.shape), moved > 0


def swap_lungs(
    image: np.ndarray, mask: np.ndarray, donor: np.ndarray, donor_mask: np.ndarray, feather: int
) -> np.ndarray:
    """``image`` with its lung field replaced by ``donor``'s, blended over a feathered edge.

    Both images are ``(H, W, 3)`` uint8 of the same size with boolean ``(H, W)`` lung masks.
    The donor is first scaled and shifted so that its lung box lands on the recipient's
    (`align_donor`). Its pixels then cover the union of both lung fields completely (no lung
    tissue of ``image`` is left) and fade into ``image`` over ``feather`` pixels outside it, so
    the composite has no hard seam: it stays a plausible radiograph, unlike a blacked-out one.
    """
    mask = np.asarray(mask, bool)
    donor, donor_mask = align_donor(donor, np.asarray(donor_mask, bool), mask)
    union = mask | donor_mask
    alpha = union.astype(np.float32)
    if feather > 0:
        grown = dilate(union[None], feather)[0].astype(np.float32)
        size = 2 * feather + 1
        alpha = np.maximum(alpha, cv2.GaussianBlur(grown, (size, size), feather / 2))
    alpha = alpha[..., None]
    out = alpha * donor.astype(np.float32) + (1 - alpha) * image.astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
