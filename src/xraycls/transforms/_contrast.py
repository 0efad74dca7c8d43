"""Contrast normalisation: CLAHE and global histogram equalisation (OpenCV)."""

from __future__ import annotations

import cv2
import numpy as np

from xraycls.errors import ConfigError
from xraycls.transforms._image import check_image, on_luma

__all__ = ["clahe", "equalize"]


def clahe(image: np.ndarray, clip_limit: float = 2.0, tiles: int = 8) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of an image's brightness.

    Evens out exposure differences between machines and hospitals while keeping local detail;
    the clip limit stops it from amplifying noise in flat regions.

    Args:
        image: uint8 ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``.
        clip_limit: OpenCV's clip limit (contrast cap per tile).
        tiles: The image is split into ``tiles`` x ``tiles`` regions.

    Returns:
        A uint8 image of the same shape.

    Examples:
        >>> import numpy as np
        >>> from xraycls.transforms import clahe
        >>> img = np.tile(np.linspace(100, 140, 64).astype(np.uint8), (64, 1))
        >>> out = clahe(img)
        >>> out.shape, out.dtype, int(np.ptp(out)) > int(np.ptp(img))
        ((64, 64), dtype('uint8'), True)
    """
    check_image(image)
    if not clip_limit > 0 or isinstance(tiles, bool) or not isinstance(tiles, int) or tiles < 1:
        raise ConfigError(f"clahe: need clip_limit > 0 and tiles >= 1, got {clip_limit}, {tiles}")
    op = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=(tiles, tiles))
    return on_luma(image, op.apply)


def equalize(image: np.ndarray) -> np.ndarray:
    """Global histogram equalisation of an image's brightness.

    Args:
        image: uint8 ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``.

    Returns:
        A uint8 image of the same shape whose brightness histogram is spread over 0-255.

    Examples:
        >>> import numpy as np
        >>> from xraycls.transforms import equalize
        >>> out = equalize(np.tile(np.arange(100, 150, dtype=np.uint8), (3, 1)))
        >>> int(out.min()), int(out.max())
        (0, 255)
    """
    check_image(image)
    return on_luma(image, cv2.equalizeHist)
