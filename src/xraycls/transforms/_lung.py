"""Lung-field transforms: crop to the lung box, or dim what lies outside the lungs."""

from __future__ import annotations

import cv2
import numpy as np

from xraycls.errors import ConfigError
from xraycls.transforms._image import check_image

__all__ = ["lung_crop", "soft_mask"]

# A mask covering less than this share of the image is treated as "no lung found" (a stray
# blob on a film the segmenter does not understand), so the image is left whole rather than
# cropped to a speck.
_MIN_LUNG_SHARE = 0.01


def _mask_for(image: np.ndarray, mask: np.ndarray | None) -> np.ndarray | None:
    if mask is None:
        from xraycls.lungs import segment

        mask = segment(image)
    mask = np.asarray(mask).astype(bool)
    if mask.shape != image.shape[:2]:
        raise ConfigError(f"mask: shape {mask.shape} does not match image {image.shape[:2]}")
    return mask if mask.mean() >= _MIN_LUNG_SHARE else None


def lung_crop(image: np.ndarray, mask: np.ndarray | None = None, margin: float = 0.1) -> np.ndarray:
    """Crop an image to its lung box (:func:`xraycls.lungs.lung_box`) plus ``margin``.

    Borders, burned-in labels and anything else far from the lungs are cut away before the
    image is resized for the model. When no lung is found (mask covers under 1% of the image)
    the whole image is returned.

    Args:
        image: uint8 ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``.
        mask: Bool ``(H, W)`` lung mask; ``None`` runs :func:`xraycls.lungs.segment`.
        margin: Growth of the box on each side, as a share of its height/width.

    Returns:
        The crop (a new uint8 array, same number of channels, smaller or equal size).

    Examples:
        >>> import numpy as np
        >>> from xraycls.transforms import lung_crop
        >>> img = np.zeros((100, 80), np.uint8)
        >>> m = np.zeros((100, 80), bool); m[30:70, 20:60] = True
        >>> lung_crop(img, m, margin=0.0).shape
        (40, 40)
    """
    from xraycls.lungs import lung_box

    check_image(image)
    found = _mask_for(image, mask)
    if found is None:
        return image.copy()
    y0, y1, x0, x1 = lung_box(found, margin)
    return np.ascontiguousarray(image[y0:y1, x0:x1]).copy()


def soft_mask(
    image: np.ndarray, mask: np.ndarray | None = None, outside: float = 0.3
) -> np.ndarray:
    """Dim everything outside the lung field to ``outside`` times its brightness.

    The mask is grown by 3% of the image side and feathered, so the lung border and the ribs
    next to it stay visible and no sharp edge is drawn that a model could learn instead.
    ``outside=0`` blacks the outside out; ``1`` changes nothing. When no lung is found the
    image is returned unchanged.

    Args:
        image: uint8 ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``.
        mask: Bool ``(H, W)`` lung mask; ``None`` runs :func:`xraycls.lungs.segment`.
        outside: Brightness factor in ``[0, 1]`` outside the lungs.

    Returns:
        A uint8 image of the same shape.

    Examples:
        >>> import numpy as np
        >>> from xraycls.transforms import soft_mask
        >>> img = np.full((100, 100), 200, np.uint8)
        >>> m = np.zeros((100, 100), bool); m[30:70, 30:70] = True
        >>> out = soft_mask(img, m, outside=0.25)
        >>> int(out[50, 50]), int(out[2, 2])
        (200, 50)
    """
    check_image(image)
    if isinstance(outside, bool) or not isinstance(outside, (int, float)) or not 0 <= outside <= 1:
        raise ConfigError(f"outside must be a number in [0, 1], got {outside!r}")
    found = _mask_for(image, mask)
    if found is None:
        return image.copy()
    side = min(image.shape[:2])
    grow = max(1, round(0.03 * side))
    grown = cv2.dilate(found.astype(np.uint8), np.ones((2 * grow + 1,) * 2, np.uint8))
    weight = cv2.GaussianBlur(grown.astype(np.float32), (0, 0), max(1.0, grow / 2))
    weight = np.maximum(weight, grown * 0.0 + found)  # the lungs themselves stay untouched
    factor = outside + (1.0 - outside) * weight
    if image.ndim == 3:
        factor = factor[:, :, None]
    return np.clip(np.rint(image.astype(np.float32) * factor), 0, 255).astype(np.uint8)
