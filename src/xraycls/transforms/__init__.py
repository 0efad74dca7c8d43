"""Input mitigations: pure functions of a uint8 image, and the ``InputTransform`` that stores them.

Each function takes a uint8 gray ``(H, W)`` or colour ``(H, W, 3)`` image of any size and
returns a new uint8 image. ``InputTransform`` chains them as data; saved with a model it is
applied by training, evaluation, prediction and CAMs alike (see ``docs/transforms.md``).

Examples:
    >>> import numpy as np
    >>> from xraycls.transforms import InputTransform, clahe
    >>> img = np.tile(np.arange(64, dtype=np.uint8), (64, 1))
    >>> clahe(img).dtype, InputTransform(contrast="clahe").apply(img).shape
    (dtype('uint8'), (64, 64))
"""

from __future__ import annotations

from xraycls.transforms._attach import attach_transform, transform_of
from xraycls.transforms._contrast import clahe, equalize
from xraycls.transforms._input import CONTRAST_MODES, InputTransform, as_transform
from xraycls.transforms._lung import lung_crop, soft_mask
from xraycls.transforms._text import detect_text, remove_text

__all__ = [
    "CONTRAST_MODES",
    "InputTransform",
    "as_transform",
    "attach_transform",
    "clahe",
    "detect_text",
    "equalize",
    "lung_crop",
    "remove_text",
    "soft_mask",
    "transform_of",
]
