"""``segment``: lung-field masks for chest X-rays of any size, and ``lung_box``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import numpy as np

from xraycls.errors import ConfigError
from xraycls.imaging import as_image

__all__ = ["lung_box", "segment"]


def _check(image: np.ndarray, where: str) -> np.ndarray:
    return as_image(image, where, min_size=2, purpose=" to segment")


@overload
def segment(images: np.ndarray, *, threshold: float = 0.5) -> np.ndarray: ...
@overload
def segment(images: Sequence[np.ndarray], *, threshold: float = 0.5) -> list[np.ndarray]: ...


def segment(
    images: np.ndarray | Sequence[np.ndarray], *, threshold: float = 0.5
) -> np.ndarray | list[np.ndarray]:
    """Find the lung fields of chest X-rays with the small U-Net shipped in xraycls.

    Each image is converted to gray, letterboxed to 64x64, standardised (zero mean, unit
    variance: contrast-invariant), segmented, mapped back to its own size and cleaned up (the
    two largest blobs are kept, holes filled). Runs on the CPU in a few milliseconds per image.
    The weights are verified against their sha256 and loaded once per process.

    Args:
        images: One uint8 image ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``; a batch
            ``(N, H, W)`` or ``(N, H, W, 3)``; or a list of images of different sizes.
        threshold: Probability above which a pixel is lung.

    Returns:
        Bool masks of the same spatial size: ``(H, W)`` for one image, ``(N, H, W)`` for a
        batch array, a list of ``(H_i, W_i)`` for a list.

    Raises:
        ConfigError: Not uint8, wrong rank or channel count.
        WeightsError: The shipped weights are missing or fail their checksum.

    Examples:
        >>> import numpy as np
        >>> from xraycls.lungs import segment
        >>> masks = segment(np.zeros((2, 40, 30), np.uint8))
        >>> masks.shape, masks.dtype
        ((2, 40, 30), dtype('bool'))
        >>> sizes = [np.zeros((20, 30, 3), np.uint8), np.zeros((50, 10), np.uint8)]
        >>> [m.shape for m in segment(sizes)]
        [(20, 30), (50, 10)]
    """
    from xraycls.lungs._predict import predict_masks
    from xraycls.lungs._weights import load_segmenter

    if not 0.0 < float(threshold) < 1.0:
        raise ConfigError(f"threshold must be in (0, 1), got {threshold!r}")
    if isinstance(images, np.ndarray):
        # Rank 3 is one colour image when it ends in 1 or 3 channels (no X-ray is 3 px wide),
        # else a batch of gray images.
        if images.ndim == 2 or (images.ndim == 3 and images.shape[2] in (1, 3)):
            one = _check(images, "images")
            return predict_masks(load_segmenter(), [one], threshold=threshold)[0]
        if images.ndim not in (3, 4):
            raise ConfigError(
                f"images: expected (H, W[, C]), (N, H, W) or (N, H, W, C), got {images.shape}"
            )
        if len(images) == 0:
            return np.zeros(images.shape[:3], bool)
        batch = [_check(img, f"images[{i}]") for i, img in enumerate(images)]
        return np.stack(predict_masks(load_segmenter(), batch, threshold=threshold))
    items = [_check(np.asarray(img), f"images[{i}]") for i, img in enumerate(images)]
    return predict_masks(load_segmenter(), items, threshold=threshold) if items else []


def lung_box(mask: np.ndarray, margin: float = 0.1) -> tuple[int, int, int, int]:
    """The bounding box of a lung mask, grown by ``margin``, clipped to the image.

    Args:
        mask: A bool ``(H, W)`` mask (from :func:`segment`).
        margin: Growth on each side as a share of the box's height (top/bottom) and width
            (left/right); ``0.1`` adds 10%.

    Returns:
        ``(y0, y1, x0, x1)`` with ``image[y0:y1, x0:x1]`` the crop. When the mask is empty
        (no lung found: not a chest film, or a failure) the whole image ``(0, H, 0, W)`` is
        returned, so a crop built on it degrades to "no crop" instead of failing.

    Raises:
        ConfigError: ``mask`` is not 2-D or ``margin`` is negative.

    Examples:
        >>> import numpy as np
        >>> from xraycls.lungs import lung_box
        >>> m = np.zeros((100, 100), bool); m[20:60, 30:70] = True
        >>> lung_box(m, margin=0.0)
        (20, 60, 30, 70)
        >>> lung_box(m, margin=0.1)
        (16, 64, 26, 74)
        >>> lung_box(np.zeros((10, 20), bool))
        (0, 10, 0, 20)
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ConfigError(f"mask: expected a 2-D (H, W) mask, got shape {mask.shape}")
    if not isinstance(margin, (int, float)) or not margin >= 0:
        raise ConfigError(f"margin must be a number >= 0, got {margin!r}")
    h, w = mask.shape
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return 0, h, 0, w
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    dy, dx = round(margin * (y1 - y0)), round(margin * (x1 - x0))
    return max(0, y0 - dy), min(h, y1 + dy), max(0, x0 - dx), min(w, x1 + dx)
