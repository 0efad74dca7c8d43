"""Temperature scaling, expected calibration error and the sensitivity operating point (NumPy)."""

from __future__ import annotations

import numpy as np

from xraycls.errors import ConfigError

__all__ = [
    "apply_temperature",
    "expected_calibration_error",
    "fit_temperature",
    "operating_point",
]

_EPS = 1e-12


def _check(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels)
    if y.ndim == 2:  # one-hot
        y = y.argmax(axis=1)
    y = y.astype(np.int64)
    if p.ndim != 2 or len(p) != len(y) or len(p) == 0:
        raise ConfigError(
            f"need probabilities (N, C) and N labels with N > 0; got {p.shape} and {y.shape}"
        )
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ConfigError(f"labels must lie in 0..{p.shape[1] - 1}")
    return p, y


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Rescale softmax probabilities by a temperature: ``softmax(log(p) / T)``.

    The model outputs probabilities, not logits; ``log(p)`` recovers the logits up to a
    per-row constant, which softmax ignores, so this is exact temperature scaling.

    Examples:
        >>> apply_temperature(np.array([[0.9, 0.1]]), 2.0).round(3).tolist()
        [[0.75, 0.25]]
    """
    if not temperature > 0:
        raise ConfigError(f"temperature must be > 0; got {temperature}")
    logits = np.log(np.clip(np.asarray(probs, dtype=np.float64), _EPS, 1.0)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of ``labels`` (Guo et al., 2017).

    Args:
        probs: Softmax outputs ``(N, C)`` on held-out (validation) data.
        labels: ``N`` class indices or one-hot rows.

    Returns:
        ``T`` in ``[0.05, 20]``; ``T > 1`` softens over-confident models.

    Examples:
        >>> p = np.array([[0.99, 0.01], [0.99, 0.01], [0.01, 0.99], [0.99, 0.01]])
        >>> fit_temperature(p, np.array([0, 1, 1, 0])) > 1
        True
    """
    from scipy.optimize import minimize_scalar

    p, y = _check(probs, labels)
    logits = np.log(np.clip(p, _EPS, 1.0))

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z -= z.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(z).sum(axis=1))
        return float(np.mean(log_norm - z[np.arange(len(y)), y]))

    res = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(res.x))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Top-label expected calibration error with ``n_bins`` equal-width confidence bins.

    Examples:
        >>> expected_calibration_error(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1]))
        0.0
    """
    p, y = _check(probs, labels)
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(conf[mask].mean() - correct[mask].mean())
    return float(ece)


def operating_point(
    scores: np.ndarray, positive: np.ndarray, target_sensitivity: float
) -> dict[str, float]:
    """The highest threshold on ``scores`` whose sensitivity reaches ``target_sensitivity``.

    Args:
        scores: Probability of the positive class per image.
        positive: True where the image belongs to the positive class.
        target_sensitivity: Wanted true-positive rate in ``(0, 1]``.

    Returns:
        ``threshold``, ``sensitivity`` and ``specificity`` measured at it, and ``auc``.

    Raises:
        ConfigError: No positive or no negative image, or a target outside ``(0, 1]``.

    Examples:
        >>> op = operating_point(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 1, 0, 0]), 0.95)
        >>> op["threshold"], op["sensitivity"], op["specificity"]
        (0.8, 1.0, 1.0)
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    if not 0 < target_sensitivity <= 1:
        raise ConfigError(f"target_sensitivity must be in (0, 1]; got {target_sensitivity}")
    s = np.asarray(scores, dtype=np.float64)
    pos = np.asarray(positive).astype(bool)
    if pos.all() or not pos.any():
        raise ConfigError(
            "choosing an operating point needs validation images of the positive class and of "
            f"the other classes; got {int(pos.sum())} positive of {len(pos)}"
        )
    fpr, tpr, thresholds = roc_curve(pos, s)
    idx = int(np.argmax(tpr >= target_sensitivity - 1e-12))
    return {
        "threshold": float(min(thresholds[idx], 1.0)),
        "sensitivity": float(tpr[idx]),
        "specificity": float(1.0 - fpr[idx]),
        "auc": float(roc_auc_score(pos, s)),
    }
