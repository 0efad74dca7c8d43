"""``Calibration``: temperature, COVID operating threshold and abstain rule, as data."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from xraycls.calibration._math import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    operating_point,
)
from xraycls.errors import ConfigError

__all__ = ["REFER", "Calibration", "fit_calibration", "positive_class_of"]

#: The decision when the model is not confident enough to decide: a human reads the image.
REFER = "refer"


def positive_class_of(class_names: Sequence[str], positive_class: str | None = None) -> str:
    """The class the operating threshold is set for: ``positive_class``, else the COVID class.

    Examples:
        >>> positive_class_of(["COVID", "Normal", "Viral Pneumonia"])
        'COVID'
    """
    names = list(class_names)
    if positive_class is not None:
        if positive_class not in names:
            raise ConfigError(f"positive class {positive_class!r} is not one of {names}")
        return positive_class
    found = [n for n in names if n.lower().startswith("covid")]
    if len(found) != 1:
        raise ConfigError(
            f"cannot tell the positive (COVID) class among {names}; name it with "
            "positive_class= (CLI: --positive)"
        )
    return found[0]


@dataclass(frozen=True)
class Calibration:
    """How raw model probabilities become calibrated probabilities and a decision.

    The decision for one image, in this order: ``"refer"`` when the calibrated probability
    of the top class is below ``refer_below`` (or, with test-time augmentation, when the spread
    across views exceeds ``max_spread``); else ``positive_class`` when its calibrated
    probability is at least ``threshold``; else ``"not <positive_class>"``.

    Attributes:
        temperature: Temperature applied to the model's probabilities (1 = unchanged).
        positive_class: The class the threshold is set for (COVID).
        threshold: Operating threshold on the calibrated positive probability.
        target_sensitivity: The sensitivity the threshold was chosen for.
        refer_below: Abstain (refer) when the top calibrated probability is below this.
        max_spread: Abstain when the test-time-augmentation spread exceeds this.
        sensitivity: Sensitivity at the threshold on the calibration data.
        specificity: Specificity at the threshold on the calibration data.
        auc: ROC AUC of the positive class on the calibration data.
        ece_before: Expected calibration error before temperature scaling.
        ece_after: Expected calibration error after.
        refer_rate: Fraction of calibration images that would be referred.
        n_images: Images the calibration was fitted on.
        roc: ``{"fpr": [...], "tpr": [...]}`` of the positive class (at most 101 points).

    Examples:
        >>> cal = Calibration(temperature=2.0, threshold=0.3)
        >>> cal.decide(cal.probabilities(np.array([[0.9, 0.05, 0.05]])), ["COVID", "N", "V"])
        ['COVID']
        >>> Calibration.from_dict(cal.to_dict()) == cal
        True
    """

    temperature: float = 1.0
    positive_class: str = "COVID"
    threshold: float = 0.5
    target_sensitivity: float = 0.95
    refer_below: float = 0.0
    max_spread: float = 1.0
    sensitivity: float | None = None
    specificity: float | None = None
    auc: float | None = None
    ece_before: float | None = None
    ece_after: float | None = None
    refer_rate: float | None = None
    n_images: int = 0
    roc: dict[str, list[float]] = field(default_factory=dict, compare=False)

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (float32) of raw softmax outputs ``(N, C)``."""
        return apply_temperature(raw, self.temperature).astype(np.float32)

    def decide(
        self,
        probabilities: np.ndarray,
        class_names: Sequence[str],
        spread: np.ndarray | None = None,
    ) -> list[str]:
        """One decision per row of *calibrated* probabilities (see the class docstring)."""
        names = list(class_names)
        if self.positive_class not in names:
            raise ConfigError(f"positive class {self.positive_class!r} is not one of {names}")
        p = np.asarray(probabilities, dtype=np.float64)
        k = names.index(self.positive_class)
        out = []
        for i, row in enumerate(p):
            unsure = row.max() < self.refer_below
            if spread is not None and float(spread[i]) > self.max_spread:
                unsure = True
            if unsure:
                out.append(REFER)
            elif row[k] >= self.threshold:
                out.append(self.positive_class)
            else:
                out.append(f"not {self.positive_class}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (the form stored in the model file)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"unknown calibration keys {unknown}; expected some of {sorted(known)}"
            )
        return cls(**dict(data))

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))


def _downsample_roc(scores: np.ndarray, positive: np.ndarray) -> dict[str, list[float]]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(positive, scores)
    if len(fpr) > 101:
        keep = np.unique(np.linspace(0, len(fpr) - 1, 101).round().astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return {"fpr": [round(float(v), 5) for v in fpr], "tpr": [round(float(v), 5) for v in tpr]}


def fit_calibration(
    probs: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    positive_class: str | None = None,
    target_sensitivity: float = 0.95,
    refer_below: float = 0.5,
    max_spread: float = 0.15,
) -> Calibration:
    """Fit temperature scaling and choose the operating threshold on validation predictions.

    Args:
        probs: Raw softmax outputs ``(N, C)`` of the model on validation images.
        labels: Class indices (or one-hot rows) of those images.
        class_names: One name per column.
        positive_class: The class to threshold; default the one named ``COVID...``.
        target_sensitivity: Sensitivity the threshold must reach on these images.
        refer_below: Top calibrated probability under which an image is referred.
        max_spread: Test-time-augmentation spread over which an image is referred.

    Returns:
        The :class:`Calibration`, with ECE before/after and the operating point's measures.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 3, 200)
        >>> p = np.full((200, 3), 0.01); p[np.arange(200), y] = 0.98
        >>> cal = fit_calibration(p, y, ["COVID", "Normal", "Viral Pneumonia"])
        >>> cal.sensitivity >= 0.95
        True
    """
    names = list(class_names)
    raw = np.asarray(probs, dtype=np.float64)
    if raw.ndim != 2 or raw.shape[1] != len(names):
        raise ConfigError(f"probabilities of shape {raw.shape} for {len(names)} classes {names}")
    if not 0 <= refer_below <= 1:
        raise ConfigError(f"refer_below must be in [0, 1]; got {refer_below}")
    y = np.asarray(labels)
    y = y.argmax(axis=1) if y.ndim == 2 else y.astype(np.int64)
    positive = positive_class_of(names, positive_class)
    k = names.index(positive)
    temperature = fit_temperature(raw, y)
    cal = apply_temperature(raw, temperature)
    op = operating_point(cal[:, k], y == k, target_sensitivity)
    return Calibration(
        temperature=temperature,
        positive_class=positive,
        threshold=op["threshold"],
        target_sensitivity=float(target_sensitivity),
        refer_below=float(refer_below),
        max_spread=float(max_spread),
        sensitivity=op["sensitivity"],
        specificity=op["specificity"],
        auc=op["auc"],
        ece_before=expected_calibration_error(raw, y),
        ece_after=expected_calibration_error(cal, y),
        refer_rate=float((cal.max(axis=1) < refer_below).mean()),
        n_images=len(y),
        roc=_downsample_roc(cal[:, k], y == k),
    )
