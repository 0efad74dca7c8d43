"""Burned-in text and marker detection (morphology + component rules) and removal (inpaint)."""

from __future__ import annotations

import cv2
import numpy as np

from xraycls.transforms._image import check_image, gray_of

__all__ = ["detect_text", "remove_text"]

# Rules, as shares of the image's shorter side unless noted. Text, side markers ("L", "R") and
# arrows are burned in brighter than anything around them and are small and thin; bones and
# lung texture are either broad or low in local contrast. Chosen on generated films with
# planted text and checked on cxr3 COVID films (docs/transforms.md).
_TOPHAT_SIDE = 0.02  # structuring element: wider than a stroke, narrower than a rib
_MIN_CONTRAST = 80  # grey levels above the local background (top-hat)
_MIN_BRIGHT = 170  # a burned-in mark is near white
_MAX_HEIGHT = 0.12  # a character, marker or arrow is at most this tall...
_MAX_WIDTH = 0.3  # ...and this wide
_MAX_AREA = 0.015  # of the image's pixels (a word of burned-in text)
_MIN_AREA = 0.00015  # of the image's pixels: specks on rib edges are smaller than a letter
_MIN_AREA_PX = 4


def detect_text(image: np.ndarray) -> np.ndarray:
    """Find burned-in letters, side markers and arrows: bright, thin, high-contrast marks.

    A white top-hat (the image minus its morphological opening) keeps structures narrower than
    the structuring element; those at least 80 grey levels above their surroundings and near
    white are candidates, and connected components that are small (a character, a marker or an
    arrow, not a bone or the film's edge) are kept, grown by a pixel or two to cover their
    anti-aliased rim.

    Args:
        image: uint8 ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``, any size.

    Returns:
        A bool ``(H, W)`` mask of the marks (all False when none is found).

    Examples:
        >>> import cv2, numpy as np
        >>> from xraycls.transforms import detect_text
        >>> img = np.full((200, 200), 60, np.uint8)
        >>> _ = cv2.putText(img, "L", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2)
        >>> mask = detect_text(img)
        >>> bool(mask[15:45, 15:45].any()), bool(mask[100:, 100:].any())
        (True, False)
    """
    gray = gray_of(check_image(image))
    h, w = gray.shape
    side = min(h, w)
    k = max(5, round(_TOPHAT_SIDE * side) | 1)  # at least 5 px: strokes are 1-3 px
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    tophat = cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, kernel)
    candidate = ((tophat >= _MIN_CONTRAST) & (gray >= _MIN_BRIGHT)).astype(np.uint8)
    # Join the strokes of one character (anti-aliasing can split them) before judging size.
    joined = cv2.dilate(candidate, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    if n <= 1:
        return np.zeros((h, w), bool)
    bw, bh = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]
    # Area counts the candidate pixels, not the joining dilation around them.
    area = np.bincount(labels[candidate > 0], minlength=n)[1:]
    ok = (
        (bh <= max(3, _MAX_HEIGHT * side))
        & (bw <= max(3, _MAX_WIDTH * side))
        & (area <= max(_MIN_AREA_PX, _MAX_AREA * h * w))
        & (area >= max(_MIN_AREA_PX, _MIN_AREA * h * w))
    )
    keep = np.flatnonzero(ok) + 1
    found = np.isin(labels, keep) & (candidate > 0)
    if not found.any():
        return found
    grow = max(1, side // 256)
    return cv2.dilate(found.astype(np.uint8), np.ones((2 * grow + 1,) * 2, np.uint8)) > 0


def remove_text(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Paint over burned-in text and markers with their surroundings (``cv2.inpaint``, Telea).

    Args:
        image: uint8 ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``.
        mask: Where to inpaint (bool ``(H, W)``); ``None`` runs :func:`detect_text`.

    Returns:
        A uint8 image of the same shape; unchanged where nothing is found.

    Examples:
        >>> import cv2, numpy as np
        >>> from xraycls.transforms import remove_text
        >>> img = np.full((256, 256), 70, np.uint8)
        >>> _ = cv2.putText(img, "R", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.7, 255, 2)
        >>> int(remove_text(img).max()) < 100
        True
    """
    check_image(image)
    if mask is None:
        mask = detect_text(image)
    elif np.asarray(mask).shape != image.shape[:2]:
        from xraycls.errors import ConfigError

        raise ConfigError(
            f"mask: shape {np.asarray(mask).shape} does not match image {image.shape[:2]}"
        )
    if not np.any(mask):
        return image.copy()
    radius = max(3, min(image.shape[:2]) // 100)
    m8 = np.asarray(mask, dtype=np.uint8)
    src = np.ascontiguousarray(image[:, :, 0] if image.ndim == 3 and image.shape[2] == 1 else image)
    out = cv2.inpaint(src, m8, radius, cv2.INPAINT_TELEA)
    return out[:, :, None] if image.ndim == 3 and image.shape[2] == 1 else out
