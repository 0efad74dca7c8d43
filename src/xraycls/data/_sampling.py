"""Class x source groups: the unit that balanced sampling and worst-group selection count in.

A multi-source training set is only as good as its worst (class, source) group: when one source
supplies all of a class (every Normal film a child's, every COVID film an adult's), a model can
learn the source instead of the disease. These helpers name every image's group and weigh
groups so that each class, and each source within a class, gets the same share of the batches.

Examples:
    >>> import numpy as np
    >>> labels = np.array([0, 0, 0, 1, 1, 1])
    >>> sources = ["a", "a", "b", "a", "c", "c"]
    >>> keys, index = group_index(labels, sources)
    >>> keys
    [(0, 'a'), (0, 'b'), (1, 'a'), (1, 'c')]
    >>> group_weights(labels, sources).round(3).tolist()
    [0.125, 0.125, 0.25, 0.25, 0.125, 0.125]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["group_index", "group_weights", "weights_from_group_shares"]


def group_index(
    labels: Sequence[int] | np.ndarray, sources: Sequence[str]
) -> tuple[list[tuple[int, str]], np.ndarray]:
    """The sorted ``(class index, source)`` groups present, and each image's group number."""
    labels = np.asarray(labels, dtype=np.int64)
    pairs = list(zip(labels.tolist(), (str(s) for s in sources), strict=True))
    keys = sorted(set(pairs))
    number = {k: i for i, k in enumerate(keys)}
    return keys, np.array([number[p] for p in pairs], dtype=np.int64)


def group_weights(labels: Sequence[int] | np.ndarray, sources: Sequence[str]) -> np.ndarray:
    """Per-image sampling weights (summing to 1) that balance classes, then sources.

    Every class present gets the same total weight; within a class, every source that has
    images of it gets the same share; within a group, every image the same weight.
    """
    keys, index = group_index(labels, sources)
    classes = sorted({c for c, _ in keys})
    per_class = {c: sum(1 for k in keys if k[0] == c) for c in classes}
    shares = np.array([1.0 / (len(classes) * per_class[c]) for c, _ in keys])
    return weights_from_group_shares(shares, index)


def weights_from_group_shares(shares: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Per-image weights giving group ``g`` the share ``shares[g]`` of all draws."""
    sizes = np.bincount(index, minlength=len(shares)).astype(np.float64)
    w = np.asarray(shares, dtype=np.float64)[index] / sizes[index]
    return w / w.sum()
