"""Fixtures shared by the training, evaluation, prediction and CLI tests: tiny images and models."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

CLASSES = ("COVID", "NORMAL", "Viral Pneumonia")


def make_image_folder(
    root: Path, per_class: int = 8, size: int = 40, classes: tuple[str, ...] = CLASSES
) -> Path:
    """A Kaggle-v1-like folder of small grayscale PNGs whose class is visible (a bright band in
    a class-specific place), so a tiny model can learn something in a few epochs."""
    rng = np.random.default_rng(123)
    base = root / "COVID-19 Radiography Database"
    for k, name in enumerate(classes):
        folder = base / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            h, w = size, size + 8 * (i % 3)  # mixed aspect ratios exercise the letterbox
            img = rng.integers(0, 60, (h, w), dtype=np.uint8)
            band = slice(k * h // len(classes), (k + 1) * h // len(classes))
            img[band, :] = 200
            assert cv2.imwrite(os.fspath(folder / f"{name} ({i + 1}).png"), img)
    return root


def tiny_model(size: int = 32, num_classes: int = 3, seed: int = 0):  # type: ignore[no-untyped-def]
    """The project's tiny test model (simple_cnn, width 4), built from a fixed seed."""
    import keras

    from xraycls.zoo import build_model

    keras.utils.set_random_seed(seed)
    return build_model(
        "simple_cnn", num_classes=num_classes, input_shape=(size, size, 3), width=4, head_width=8
    )


def arrays(n: int = 24, size: int = 32, num_classes: int = 3, seed: int = 0):  # type: ignore[no-untyped-def]
    """Random images in [0, 255] and integer labels, with a learnable brightness cue."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % num_classes
    x = rng.uniform(0, 80, (n, size, size, 3)).astype("float32")
    x += (y * 60)[:, None, None, None].astype("float32")
    return x, y


def same_weights(a, b) -> bool:  # type: ignore[no-untyped-def]
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(np.array_equal(x, y) for x, y in zip(wa, wb, strict=True))
