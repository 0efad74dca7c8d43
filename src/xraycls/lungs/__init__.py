"""The lung field: a small U-Net segmenter shipped with xraycls, trained on real image+mask pairs.

``segment`` finds the lungs of chest X-rays of any size on the CPU in milliseconds; ``lung_box``
turns a mask into a crop box. The network is built in code and its weights (a file inside this
package, checked against its sha256) are loaded once. ``scripts/train_lungs.py`` rebuilds the
weights; see ``docs/lungs.md`` for its Dice, sample masks and the training data's licences.
``WEIGHTS-NOTICE.md``, installed beside the weights, names that data and its terms of use, which
apply to the weights (the MIT licence of xraycls does not cover them).

Examples:
    >>> import numpy as np
    >>> from xraycls.lungs import lung_box, segment
    >>> mask = segment(np.zeros((64, 64), np.uint8))
    >>> mask.shape, lung_box(mask) == (0, 64, 0, 64) or mask.any()
    ((64, 64), True)
"""

from __future__ import annotations

from xraycls.lungs._model import INPUT_SIZE, build_segmenter
from xraycls.lungs._segment import lung_box, segment
from xraycls.lungs._weights import WEIGHTS_FILE, WEIGHTS_SHA256, load_segmenter, verify_weights

#: ``xraycls.segment_lungs``: the top-level name of :func:`segment`.
segment_lungs = segment

__all__ = [
    "INPUT_SIZE",
    "WEIGHTS_FILE",
    "WEIGHTS_SHA256",
    "build_segmenter",
    "load_segmenter",
    "lung_box",
    "segment",
    "segment_lungs",
    "verify_weights",
]
