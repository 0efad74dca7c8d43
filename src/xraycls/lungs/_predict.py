"""Run a segmenter model on uint8 images of any size: the one path used by ``segment``,
the training script's Dice and the tests."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from xraycls.imaging import unfit
from xraycls.lungs._prepare import letterbox_gray, postprocess, standardise, to_gray

__all__ = ["predict_masks"]

_BATCH = 32
_BUCKETS = (1, 8, _BATCH)


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
        chunk = batch[start : start + _BATCH]
        # The network runs through Keras's compiled predict function: a plain eager call
        # costs ~0.7 s of Python op dispatch per call on a busy CPU, this ~5 ms. Chunks are
        # padded to a few fixed sizes so the function is traced at most len(_BUCKETS) times.
        rows = next(b for b in _BUCKETS if b >= len(chunk))
        padded = np.zeros((rows, *chunk.shape[1:]), np.float32)
        padded[: len(chunk)] = chunk
        out = np.asarray(model.predict_on_batch(padded))
        probs.extend(out[: len(chunk), ..., 0])
    masks = []
    for prob, (_, box), gray in zip(probs, fitted, grays, strict=True):
        full = unfit(prob, box, gray.shape)
        masks.append(postprocess(full > threshold))
    return masks
