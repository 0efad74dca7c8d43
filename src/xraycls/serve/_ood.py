"""Inputs the model was never meant to see: flagged, not silently classified.

A softmax always sums to one, so a blank or constant image still comes back as, say, "Viral
Pneumonia 0.9996". The service cannot know every way an input is foreign; it flags the
plainest one: an image with (almost) no contrast, which no radiograph has.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MIN_RELATIVE_STD", "ood_warnings"]

#: Below this standard deviation, as a fraction of the pixel range (255 for 8-bit, 65535 for
#: 16-bit), an image is "near-constant". Radiographs measure 0.15-0.30; a blank page, an
#: all-black or all-white frame measures 0.
MIN_RELATIVE_STD = 0.02


def ood_warnings(image: Any) -> list[str]:
    """Why ``image`` (a decoded image, before fitting to the model) looks out of distribution.

    Examples:
        >>> ood_warnings(np.full((64, 64), 128, np.uint8))[0][:24]
        'near-constant image (pix'
        >>> rng = np.random.default_rng(0)
        >>> ood_warnings(rng.integers(0, 255, (64, 64), dtype=np.uint8))
        []
    """
    pixels = np.asarray(image)
    if pixels.size == 0:
        return ["empty image"]
    scale = 65535.0 if pixels.dtype == np.uint16 or float(pixels.max()) > 255 else 255.0
    std = float(pixels.astype(np.float32).std()) / scale
    if std < MIN_RELATIVE_STD:
        return [
            f"near-constant image (pixel standard deviation {std:.4f} of the range, below "
            f"{MIN_RELATIVE_STD}): this is not a radiograph the model can read; its "
            "probabilities mean nothing"
        ]
    return []
