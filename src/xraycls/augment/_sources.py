"""Source-balanced oversampling: within each class, every source as large as the largest.

When one class comes from two hospitals in unequal shares, the larger hospital's look can
stand in for the class. Oversampling the smaller sources (with augmented copies, as
:func:`xraycls.balance` does for classes) removes that share as a cue. It cannot help a class
that has a single source.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xraycls.augment._augmenter import _check_seed, _mix
from xraycls.augment._balance import _as_augmenter, _rebuild, _source_image

__all__ = ["balance_sources"]


def balance_sources(train: Any, augmenter: Any = None, seed: int = 0) -> Any:
    """Oversample each class's smaller sources up to the size of its largest source.

    Copy ``j`` of an image is ``augmenter(image, seed=(seed, i, j))``; copies keep their
    original's label, patient group, origin and per-image columns (``sources`` included), so
    splits and leave-one-source-out stay leak-free. Classes with one source (or ``"unknown"``
    sources only) are left as they are.

    Args:
        train: The training `xraycls.Dataset` (with `Dataset.sources`).
        augmenter: An `xraycls.Augmenter` or imgaug augmenter; default ``Augmenter.paper``.
        seed: Seed of the copies.

    Returns:
        A dataset with the originals first, then the copies (in memory).

    Examples:
        >>> import numpy as np
        >>> from xraycls.data import Dataset
        >>> from xraycls.augment import balance_sources
        >>> imgs = [np.full((16, 16, 3), i * 40, np.uint8) for i in range(4)]
        >>> ds = Dataset(("a", "b", "c", "d"), np.array([0, 0, 0, 1]), ("COVID", "Normal"),
        ...              images=imgs).with_sources(["s1", "s1", "s2", "s3"])
        >>> out = balance_sources(ds, seed=0)
        >>> out.counts(), out.sources[-1]
        ({'COVID': 4, 'Normal': 1}, 's2')
    """
    seed = _check_seed("seed", seed)
    augmenter = _as_augmenter(augmenter, seed)
    labels = np.asarray(train.labels, dtype=np.int64)
    picks = _source_picks(labels, np.asarray(train.sources), len(train.class_names))
    if not picks:
        return train
    files = list(train.files)
    images = train.images
    origins = train.origins if train.origins is not None else tuple(files)
    copies = [
        augmenter(np.asarray(_source_image(images, files, i)), seed=_mix(seed, i, 10_000 + j))
        for i, j in picks
    ]
    rows = [i for i, _ in picks]
    old_images = list(images) if images is not None else [None] * len(files)
    return _rebuild(
        train,
        files=(*files, *[f"{origins[i]}#src{j}" for i, j in picks]),
        labels=np.concatenate([labels, labels[rows]]),
        class_names=train.class_names,
        groups=None if train.groups is None else (*train.groups, *[train.groups[i] for i in rows]),
        origins=(*origins, *[origins[i] for i in rows]),
        images=(*old_images, *copies),
        meta={k: (*v, *[v[i] for i in rows]) for k, v in train.meta.items()},
    )


def _source_picks(labels: np.ndarray, sources: np.ndarray, n_classes: int) -> list[tuple[int, int]]:
    """``(original, copy number)`` for every copy: each class's smaller sources, round robin,
    up to the size of its largest source."""
    picks: list[tuple[int, int]] = []
    for k in range(n_classes):
        in_class = labels == k
        names = sorted(set(sources[in_class].tolist()) - {"unknown"})
        if len(names) < 2:
            continue
        members = {s: np.flatnonzero(in_class & (sources == s)) for s in names}
        target = max(len(idx) for idx in members.values())
        for s in names:
            idx = members[s]
            picks += [(int(idx[j % len(idx)]), j // len(idx) + 1) for j in range(target - len(idx))]
    return picks
