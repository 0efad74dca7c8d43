"""Clinical metrics with confidence intervals, computed from labels and probabilities.

Intervals (all at ``ci_level``, 95% by default):

* **Wilson score** interval for the proportions: accuracy, sensitivity, specificity, PPV, NPV.
* **Percentile bootstrap** (``n_bootstrap`` resamples of the test set with replacement, seeded)
  for F1, ROC AUC and every macro average. Resamples where a metric is undefined (e.g. no
  positive of a class, so no AUC) are left out of that metric's percentiles. The samples are put
  in a canonical order before resampling, so the intervals do not depend on the input order, and
  the interval is widened to contain the point estimate when a skewed bootstrap distribution
  would leave it outside.

Expected calibration error uses the top-1 probability in ``n_bins`` (15) equal-width bins over
``(0, 1]`` (Guo et al., 2017): ``ECE = sum_b |B_b| / N * |accuracy(B_b) - confidence(B_b)|``.

Examples:
    >>> import numpy as np
    >>> from xraycls.evaluation import compute_metrics
    >>> y = [0, 0, 1, 1]
    >>> p = np.array([[.9, .1], [.6, .4], [.3, .7], [.8, .2]])
    >>> rep = compute_metrics(y, p, ["neg", "pos"], n_bootstrap=100)
    >>> rep.accuracy.value, rep.per_class["pos"].sensitivity.value, rep.confusion_matrix
    (0.75, 0.5, [[2, 0], [1, 1]])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve

from xraycls.errors import ConfigError
from xraycls.evaluation._report import (
    CLASS_METRICS,
    ClassMetrics,
    Estimate,
    EvaluationReport,
    Prediction,
)

__all__ = ["compute_metrics", "expected_calibration_error", "wilson_interval"]

_EPS = 1e-7  # same clipping as keras.losses.categorical_crossentropy
_CHUNK = 250  # bootstrap resamples per vectorised block (bounds memory to ~CHUNK * N values)


def wilson_interval(successes: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion.

    Args:
        successes: Number of successes ``k``.
        total: Number of trials ``n``.
        level: Confidence level.

    Returns:
        ``(low, high)``; ``(nan, nan)`` when ``total`` is 0.

    Examples:
        >>> low, high = wilson_interval(8, 10)
        >>> round(low, 4), round(high, 4)
        (0.4902, 0.9433)
    """
    if total <= 0:
        return math.nan, math.nan
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    # Clamp float round-off so that k = 0 or k = n gives exactly 0 or 1 at the open end.
    return max(0.0, min(centre - half, p)), min(1.0, max(centre + half, p))


def expected_calibration_error(
    y_true: np.ndarray, y_prob: np.ndarray, n_bins: int = 15
) -> tuple[float, list[dict[str, Any]]]:
    """Expected calibration error of the top-1 probability, and the reliability-diagram bins.

    Args:
        y_true: Integer labels, shape ``(N,)``.
        y_prob: Probabilities, shape ``(N, C)``.
        n_bins: Number of equal-width confidence bins over ``(0, 1]``.

    Returns:
        ``(ece, bins)``; each bin is ``{"lower", "upper", "count", "confidence", "accuracy"}``
        (``confidence``/``accuracy`` are ``None`` for an empty bin).

    Examples:
        >>> import numpy as np
        >>> ece, bins = expected_calibration_error(np.array([0, 1]), np.array([[1., 0.], [0., 1.]]))
        >>> ece, bins[-1]["count"]
        (0.0, 2)
    """
    conf = y_prob.max(axis=1)
    correct = (y_prob.argmax(axis=1) == y_true).astype(float)
    idx = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    bins: list[dict[str, Any]] = []
    for b in range(n_bins):
        mask = idx == b
        count = int(mask.sum())
        entry: dict[str, Any] = {
            "lower": b / n_bins,
            "upper": (b + 1) / n_bins,
            "count": count,
            "confidence": None,
            "accuracy": None,
        }
        if count:
            c, a = float(conf[mask].mean()), float(correct[mask].mean())
            entry.update(confidence=c, accuracy=a)
            ece += count / len(conf) * abs(a - c)
        bins.append(entry)
    return float(ece), bins


def _as_labels(y_true: Any, n: int, c: int) -> np.ndarray:
    arr = np.asarray(y_true)
    if arr.ndim == 2:  # one-hot (or soft) labels
        if arr.shape != (n, c):
            raise ConfigError(f"y_true has shape {arr.shape}; expected ({n},) or ({n}, {c})")
        arr = arr.argmax(axis=1)
    if arr.shape != (n,):
        raise ConfigError(f"y_true has shape {arr.shape}; expected ({n},) to match y_prob")
    if arr.size and (not np.issubdtype(arr.dtype, np.number) or np.any(arr != np.round(arr))):
        raise ConfigError("y_true must hold integer class indices (or one-hot rows)")
    labels = arr.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= c):
        raise ConfigError(
            f"y_true holds labels outside 0..{c - 1} (found {labels.min()}..{labels.max()})"
        )
    return labels


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _rates(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class one-vs-rest rates from confusion matrices of shape ``(..., C, C)``."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1).astype(float)
    fn = cm.sum(axis=-1) - tp
    fp = cm.sum(axis=-2) - tp
    tn = cm.sum(axis=(-2, -1))[..., None] - tp - fn - fp
    return {
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "ppv": _ratio(tp, tp + fp),
        "npv": _ratio(tn, tn + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def _nanmean(values: np.ndarray, axis: int) -> np.ndarray:
    count = np.sum(~np.isnan(values), axis=axis)
    total = np.nansum(values, axis=axis)
    return _ratio(total, count)


def _bootstrap(y: np.ndarray, prob: np.ndarray, n_boot: int, seed: int) -> dict[str, np.ndarray]:
    """Per-resample metrics: ``name -> (B, C)`` per-class values (NaN where undefined)."""
    n, c = prob.shape
    pred = prob.argmax(axis=1)
    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {name: [] for name in CLASS_METRICS}
    for start in range(0, n_boot, _CHUNK):
        b = min(_CHUNK, n_boot - start)
        idx = rng.integers(0, n, size=(b, n))
        codes = y[idx] * c + pred[idx] + (np.arange(b) * c * c)[:, None]
        cm = np.bincount(codes.ravel(), minlength=b * c * c).reshape(b, c, c)
        for name, values in _rates(cm).items():
            out[name].append(values)
        auc = np.full((b, c), np.nan)
        yb = y[idx]
        for k in range(c):
            pos = yb == k
            n_pos = pos.sum(axis=1)
            n_neg = n - n_pos
            ranks = rankdata(prob[idx, k], axis=1)  # average ranks: ties count one half
            with np.errstate(divide="ignore", invalid="ignore"):
                auc[:, k] = np.where(
                    (n_pos > 0) & (n_neg > 0),
                    ((ranks * pos).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg),
                    np.nan,
                )
        out["auc"].append(auc)
    return {name: np.concatenate(parts, axis=0) for name, parts in out.items()}


def _percentile_ci(samples: np.ndarray, value: float, level: float) -> Estimate:
    if not math.isfinite(value):
        return Estimate(None, None, None, "bootstrap")
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return Estimate(value, None, None, "bootstrap")
    alpha = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [alpha, 100 - alpha])
    return Estimate(value, min(float(low), value), max(float(high), value), "bootstrap")


def _wilson(k: float, n: float, level: float) -> Estimate:
    if n <= 0:
        return Estimate(None, None, None, "wilson")
    low, high = wilson_interval(int(k), int(n), level)
    return Estimate(k / n, low, high, "wilson")


def _check_inputs(
    prob: np.ndarray,
    names: list[str],
    files: Sequence[str] | None,
    ci_level: float,
    n_bins: int,
) -> None:
    """Refuse what :func:`compute_metrics` cannot measure, saying which argument is wrong."""
    if prob.ndim != 2 or prob.shape[0] == 0:
        raise ConfigError(f"y_prob must have shape (N, C) with N > 0; got {prob.shape}")
    n, c = prob.shape
    if len(names) != c:
        raise ConfigError(f"{len(names)} class names given for {c} probability columns")
    if c < 2:
        raise ConfigError("at least two classes are needed")
    if not np.all(np.isfinite(prob)):
        raise ConfigError("y_prob holds NaN or infinite values (did training diverge?)")
    if not 0 < ci_level < 1:
        raise ConfigError(f"ci_level must be in (0, 1); got {ci_level}")
    if n_bins < 1:
        raise ConfigError(f"n_bins must be >= 1; got {n_bins}")
    if files is not None and len(files) != n:
        raise ConfigError(f"{len(files)} files given for {n} samples")


def _roc_curves(
    y: np.ndarray, prob: np.ndarray, names: list[str]
) -> tuple[np.ndarray, dict[str, dict[str, list[float | None]]], list[str]]:
    """One-vs-rest AUC and ROC curve per class, and notes on the classes where it is undefined."""
    n = len(y)
    notes: list[str] = []
    auc = np.full(len(names), np.nan)
    roc: dict[str, dict[str, list[float | None]]] = {}
    for k, name in enumerate(names):
        positives = int((y == k).sum())
        if 0 < positives < n:
            auc[k] = roc_auc_score(y == k, prob[:, k])
            fpr, tpr, thr = roc_curve(y == k, prob[:, k])
            roc[name] = {
                "fpr": [float(v) for v in fpr],
                "tpr": [float(v) for v in tpr],
                "thresholds": [float(v) if math.isfinite(v) else None for v in thr],
            }
        else:
            roc[name] = {"fpr": [], "tpr": [], "thresholds": []}
            why = "no sample of this class" if positives == 0 else "every sample is of this class"
            notes.append(f"AUC of class {name!r} is undefined: {why} in the evaluated data.")
    return auc, roc, notes


def compute_metrics(
    y_true: Sequence[int] | np.ndarray,
    y_prob: np.ndarray | Sequence[Sequence[float]],
    class_names: Sequence[str],
    *,
    files: Sequence[str] | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    ci_level: float = 0.95,
    n_bins: int = 15,
) -> EvaluationReport:
    """Compute every evaluation metric from true labels and predicted probabilities.

    Args:
        y_true: Integer class indices ``(N,)`` or one-hot rows ``(N, C)``.
        y_prob: Predicted probabilities ``(N, C)`` (rows should sum to 1).
        class_names: ``C`` class names in label order.
        files: Optional image path per sample, stored in the per-image predictions.
        n_bootstrap: Bootstrap resamples for the F1 / AUC / macro intervals (0 disables them).
        seed: Seed of the bootstrap.
        ci_level: Confidence level of every interval.
        n_bins: Bins of the expected calibration error and reliability diagram.

    Returns:
        The :class:`EvaluationReport`.

    Raises:
        ConfigError: Shapes disagree, labels are out of range, probabilities are not finite,
            or there are no samples.

    Examples:
        >>> import numpy as np
        >>> rep = compute_metrics([0, 1, 2], np.eye(3), ["COVID", "NORMAL", "Viral"],
        ...                       n_bootstrap=10)
        >>> rep.accuracy.value, rep.macro["auc"].value
        (1.0, 1.0)
    """
    prob = np.asarray(y_prob, dtype=np.float64)
    names = [str(c) for c in class_names]
    _check_inputs(prob, names, files, ci_level, n_bins)
    n, c = prob.shape
    y = _as_labels(y_true, n, c)

    pred = prob.argmax(axis=1)
    cm = confusion_matrix(y, pred, labels=list(range(c)))
    rates = _rates(cm)
    tp = np.diag(cm)
    fn = cm.sum(axis=1) - tp
    fp = cm.sum(axis=0) - tp
    tn = n - tp - fn - fp
    loss = float(-np.mean(np.log(np.clip(prob[np.arange(n), y], _EPS, 1 - _EPS))))

    auc, roc, notes = _roc_curves(y, prob, names)

    # Canonical order (by label, then probabilities) makes the bootstrap order-independent.
    order = np.lexsort((*prob.T[::-1], y))
    boot = _bootstrap(y[order], prob[order], n_bootstrap, seed) if n_bootstrap > 0 else None

    def boot_est(name: str, k: int | None, value: float) -> Estimate:
        if boot is None:
            return Estimate(value, None, None, "none")
        samples = boot[name][:, k] if k is not None else _nanmean(boot[name], axis=1)
        return _percentile_ci(samples, value, ci_level)

    per_class: dict[str, ClassMetrics] = {}
    for k, name in enumerate(names):
        per_class[name] = ClassMetrics(
            support=int(tp[k] + fn[k]),
            sensitivity=_wilson(tp[k], tp[k] + fn[k], ci_level),
            specificity=_wilson(tn[k], tn[k] + fp[k], ci_level),
            ppv=_wilson(tp[k], tp[k] + fp[k], ci_level),
            npv=_wilson(tn[k], tn[k] + fn[k], ci_level),
            f1=boot_est("f1", k, float(rates["f1"][k])),
            auc=boot_est("auc", k, float(auc[k])),
        )
    point = {**rates, "auc": auc}
    macro = {
        name: boot_est(name, None, float(_nanmean(point[name], axis=0))) for name in CLASS_METRICS
    }
    ece, bins = expected_calibration_error(y, prob, n_bins)
    predictions = [
        Prediction(
            file=None if files is None else str(files[i]),
            true=names[y[i]],
            predicted=names[pred[i]],
            probabilities={name: float(prob[i, k]) for k, name in enumerate(names)},
        )
        for i in range(n)
    ]
    return EvaluationReport(
        class_names=names,
        n=n,
        loss=loss,
        accuracy=_wilson(int((pred == y).sum()), n, ci_level),
        per_class=per_class,
        macro=macro,
        confusion_matrix=cm.astype(int).tolist(),
        roc_curves=roc,
        calibration={"ece": ece, "n_bins": n_bins, "bins": bins},
        predictions=predictions,
        notes=notes,
        settings={
            "ci_level": ci_level,
            "proportion_ci": "wilson",
            "f1_auc_macro_ci": "percentile bootstrap",
            "n_bootstrap": n_bootstrap,
            "bootstrap_seed": seed,
            "calibration_bins": n_bins,
        },
    )
