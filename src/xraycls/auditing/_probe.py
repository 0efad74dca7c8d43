"""The source probe: can a linear model tell an image's source from the network's features?

Within one class, a source that the penultimate features separate well is a source the
classifier *could* use instead of the disease. A cross-validated logistic regression
(scikit-learn) measures how well: AUC near 0.5 means the features do not encode the source.

Examples:
    >>> import numpy as np
    >>> from xraycls.auditing._probe import source_probe
    >>> rng = np.random.default_rng(0)
    >>> feats = rng.normal(size=(40, 4)); feats[:20, 0] += 4  # source "a" shifted on one axis
    >>> out = source_probe(feats, [0] * 40, ["a"] * 20 + ["b"] * 20, ["COVID"], seed=0)
    >>> out["COVID"]["auc"] > 0.9
    True
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["source_probe"]


def _probe_auc(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray | None, folds: int, seed: int
) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    if groups is not None and len(set(groups.tolist())) >= folds:
        # A patient's images must not sit on both sides of a fold: the probe would recognise
        # the patient, not the source.
        cv: Any = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        prob = cross_val_predict(probe, x, y, groups=groups, cv=cv, method="predict_proba")
    else:
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        prob = cross_val_predict(probe, x, y, cv=cv, method="predict_proba")
    if prob.shape[1] == 2:
        return float(roc_auc_score(y, prob[:, 1]))
    return float(roc_auc_score(y, prob, multi_class="ovr", average="macro"))


def source_probe(
    features: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    sources: Sequence[str],
    class_names: Sequence[str],
    *,
    groups: Sequence[str] | None = None,
    seed: int = 0,
    folds: int = 5,
    min_per_source: int = 5,
) -> dict[str, dict[str, Any]]:
    """Cross-validated AUC of a source probe within each class that has two or more sources.

    Args:
        features: ``(N, D)`` penultimate features.
        labels: True class index per image.
        sources: Source per image (``"unknown"`` entries are left out).
        class_names: Class names in label order.
        groups: Patient id per image; folds then keep a patient's images together.
        seed: Seed of the fold assignment.
        folds: Folds of the stratified k-fold (fewer when the smallest source is smaller).
        min_per_source: Sources with fewer images in a class are left out of its probe.

    Returns:
        Class name -> ``{"auc", "n", "folds", "sources": {source: count}}`` for every probed
        class; classes with fewer than two usable sources are absent.
    """
    labels_arr = np.asarray(labels)
    src = np.asarray([str(s) for s in sources])
    grp = None if groups is None else np.asarray([str(g) for g in groups])
    out: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(class_names):
        counts = Counter(src[(labels_arr == k) & (src != "unknown")].tolist())
        kept = sorted(s for s, c in counts.items() if c >= min_per_source)
        if len(kept) < 2:
            continue
        rows = np.flatnonzero((labels_arr == k) & np.isin(src, kept))
        y = np.searchsorted(np.asarray(kept), src[rows])
        n_folds = int(min(folds, min(counts[s] for s in kept)))
        auc = _probe_auc(
            np.asarray(features[rows], dtype=np.float64),
            y,
            None if grp is None else grp[rows],
            n_folds,
            seed,
        )
        out[str(name)] = {
            "auc": auc,
            "n": int(rows.size),
            "folds": n_folds,
            "sources": {s: int(counts[s]) for s in kept},
        }
    return out
