"""Run a segmenter model on uint8 images of any size: the one path used by ``segment``,
the training script's Dice and the tests."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from xraycls.lungs._prepare import letterbox_gray, postprocess, standardise, to_gray, unletterbox

__all__ = ["predict_masks"]

_BATCH = 32


def predict_masks(
    model: keras.Model, images: Sequence[np.ndarray], *, threshold: float = 0.5
) -> list[np.ndarray]:
    """Bool lung masks at each image's own size (uint8 gray or RGB inputs)."""
    size = int(model.inputs[0].shape[1])
    grays = [to_gray(img) for img in images]
    fitted = [letterbox_gray(g, size) for g in grays]
    if not fitted:
        return []
    batch = np.stack([standardise(sq, box) for sq, box in fitted])[..., None]
    probs: list[np.ndarray] = []
    for start in range(0, len(batch), _BATCH):
        # Calling the model (not model.predict) avoids Keras's per-call dataset set-up,
        # which costs more than the network itself for a handful of small images.
        out = model(batch[start : start + _BATCH], training=False)
        probs.extend(np.asarray(keras.ops.convert_to_numpy(out))[..., 0])
    masks = []
    for prob, (_, box), gray in zip(probs, fitted, grays, strict=True):
        full = unletterbox(prob, box, gray.shape[:2])
        masks.append(postprocess(full > threshold))
    return masks
