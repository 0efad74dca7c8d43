"""The image+mask pairs the segmenter is trained on, and its fixed held-out split.

Shared by ``scripts/train_lungs.py`` and the tests, so the Dice the test measures is on exactly
the pairs the shipped weights never saw.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import cv2
import numpy as np

from xraycls.errors import DatasetLayoutError

__all__ = ["HOLDOUT", "SPLIT_SEED", "Pair", "load_pairs", "split_ids"]

#: Share of the pairs of each source held out for Dice, and the seed that picks them.
HOLDOUT = 0.2
SPLIT_SEED = 0

Pair = tuple[str, np.ndarray, np.ndarray]


def load_pairs(folder: str | os.PathLike[str]) -> list[Pair]:
    """Read ``(id, uint8 gray image, bool mask)`` for every row of ``folder/MANIFEST.csv``."""
    root = Path(folder)
    manifest = root / "MANIFEST.csv"
    if not manifest.is_file():
        raise DatasetLayoutError(
            f"{os.fspath(manifest)!r} not found: point at the cxr-lungmask folder "
            "(images/, masks/, MANIFEST.csv)"
        )
    pairs: list[Pair] = []
    with open(manifest, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            image = cv2.imread(str(root / row["image"]), cv2.IMREAD_GRAYSCALE)
            mask = cv2.imread(str(root / row["mask"]), cv2.IMREAD_GRAYSCALE)
            if image is None or mask is None or image.shape != mask.shape:
                raise DatasetLayoutError(
                    f"{os.fspath(root)!r}: pair {row['id']!r} is unreadable or its image and "
                    "mask differ in size"
                )
            pairs.append((row["id"], image, mask > 127))
    return pairs


def split_ids(
    ids: list[str], *, holdout: float = HOLDOUT, seed: int = SPLIT_SEED
) -> tuple[list[str], list[str]]:
    """Split ids into ``(train, heldout)``: ``holdout`` of each source (id prefix), seeded."""
    rng = np.random.default_rng(seed)
    train: list[str] = []
    held: list[str] = []
    for source in sorted({i.split("_", 1)[0] for i in ids}):
        members = sorted(i for i in ids if i.split("_", 1)[0] == source)
        order = rng.permutation(len(members))
        n_held = max(1, round(holdout * len(members)))
        held += [members[j] for j in order[:n_held]]
        train += [members[j] for j in order[n_held:]]
    return sorted(train), sorted(held)
