"""Fixtures shared by the augment and pipeline tests: tiny generated images on disk."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_png(path: Path, image: np.ndarray) -> str:
    """Write ``image`` (gray ``(H, W)``, RGB ``(H, W, 3)``, uint8 or uint16) as a PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    assert cv2.imwrite(str(path), data)
    return str(path)


def gray_files(folder: Path, n: int, size: tuple[int, int] = (24, 20)) -> list[str]:
    """``n`` gray PNGs whose pixels all equal ``10 * i + 5`` (so file ``i`` is recognisable)."""
    return [
        write_png(folder / f"img{i:03d}.png", np.full(size, 10 * i + 5, np.uint8)) for i in range(n)
    ]


def noise_files(folder: Path, n: int, size: tuple[int, int] = (24, 20), seed: int = 0) -> list[str]:
    """``n`` random-texture gray PNGs (augmentation visibly changes them)."""
    rng = np.random.default_rng(seed)
    return [
        write_png(folder / f"tex{i:03d}.png", rng.integers(0, 256, size, dtype=np.uint8))
        for i in range(n)
    ]


def make_dataset(files: list[str], labels: list[int], class_names: tuple[str, ...], **kw: object):  # type: ignore[no-untyped-def]
    """A ``xraycls.data.Dataset`` over ``files``."""
    from xraycls.data._dataset import Dataset

    return Dataset(files=tuple(files), labels=np.asarray(labels), class_names=class_names, **kw)
