"""Class weights: the alternative to oversampling when classes are imbalanced."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from xraycls.errors import ConfigError

__all__ = ["class_weights"]


def class_weights(labels_or_dataset: Any, num_classes: int | None = None) -> dict[int, float]:
    """Per-class loss weights with scikit-learn's ``"balanced"`` formula.

    ``weight[c] = n_samples / (n_present_classes * count[c])``, so every class contributes the
    same total weight and a class twice as frequent gets half the weight. The result plugs
    straight into ``keras.Model.fit(class_weight=...)``.

    Args:
        labels_or_dataset: Integer class indices (any 1-D sequence or array), or an object with
            ``labels`` and ``class_names`` (a :class:`xraycls.Dataset`).
        num_classes: Number of classes. Defaults to ``len(dataset.class_names)`` for a dataset,
            otherwise ``max(label) + 1``. Classes with no samples are not counted in
            ``n_present_classes`` (as in scikit-learn) and get weight 1.0, so the dict always has
            a key for every class (Keras needs one).

    Returns:
        ``{class_index: weight}`` for ``class_index`` in ``range(num_classes)``.

    Raises:
        ConfigError: No labels, labels that are not non-negative integers, or a label
            ``>= num_classes``.

    Examples:
        >>> from xraycls.augment import class_weights
        >>> class_weights([0, 1, 1, 1])
        {0: 2.0, 1: 0.6666666666666666}
    """
    if hasattr(labels_or_dataset, "labels") and hasattr(labels_or_dataset, "class_names"):
        raw: Sequence[Any] | np.ndarray = labels_or_dataset.labels
        if num_classes is None:
            num_classes = len(labels_or_dataset.class_names)
    else:
        raw = labels_or_dataset
    labels = np.asarray(raw)
    if labels.ndim != 1 or labels.size == 0:
        raise ConfigError(
            f"labels: expected a non-empty 1-D sequence of class indices, got shape {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ConfigError(f"labels: expected integer class indices, got dtype {labels.dtype}")
    if labels.min() < 0:
        raise ConfigError(f"labels: class indices must be >= 0, got {int(labels.min())}")
    top = int(labels.max())
    if num_classes is None:
        num_classes = top + 1
    if top >= num_classes:
        raise ConfigError(f"labels: class index {top} is out of range for {num_classes} classes")
    counts = np.bincount(labels, minlength=num_classes)
    present = int((counts > 0).sum())
    n = int(labels.size)
    return {c: (n / (present * int(counts[c])) if counts[c] else 1.0) for c in range(num_classes)}
