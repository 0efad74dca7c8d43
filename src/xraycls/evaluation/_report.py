"""The :class:`EvaluationReport` data class and its JSON / Markdown forms.

Examples:
    >>> import numpy as np
    >>> from xraycls.evaluation import compute_metrics, EvaluationReport
    >>> rep = compute_metrics([0, 1, 1], np.array([[.9, .1], [.2, .8], [.6, .4]]), ["a", "b"],
    ...                       n_bootstrap=50)
    >>> EvaluationReport.from_json(rep.to_json()) == rep
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xraycls._serial import Serial
from xraycls.errors import ConfigError

__all__ = ["ClassMetrics", "Estimate", "EvaluationReport", "Prediction"]

#: Metric names of :class:`ClassMetrics` that carry an :class:`Estimate`, in table order.
CLASS_METRICS = ("sensitivity", "specificity", "ppv", "npv", "f1", "auc")


def _num(value: Any) -> float | None:
    """A finite float, or ``None`` for missing / NaN / infinite values (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Estimate(Serial):
    """A point estimate with its confidence interval.

    Attributes:
        value: The estimate, or ``None`` when undefined (e.g. PPV of a class never predicted).
        low: Lower end of the confidence interval, or ``None``.
        high: Upper end of the confidence interval, or ``None``.
        method: How the interval was obtained: ``"wilson"``, ``"bootstrap"`` or ``"none"``.

    Examples:
        >>> Estimate(0.5, 0.2, 0.8, "wilson").format()
        '0.500 (0.200-0.800)'
    """

    value: float | None
    low: float | None = None
    high: float | None = None
    method: str = "none"

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _num(self.value))
        object.__setattr__(self, "low", _num(self.low))
        object.__setattr__(self, "high", _num(self.high))

    def format(self, digits: int = 3) -> str:
        """The estimate as text, ``"n/a"`` when undefined."""
        if self.value is None:
            return "n/a"
        text = f"{self.value:.{digits}f}"
        if self.low is not None and self.high is not None:
            text += f" ({self.low:.{digits}f}-{self.high:.{digits}f})"
        return text


@dataclass(frozen=True)
class ClassMetrics(Serial):
    """One-vs-rest metrics of one class.

    Attributes:
        support: Number of samples whose true class is this one.
        sensitivity: Recall, TP / (TP + FN); Wilson interval.
        specificity: TN / (TN + FP); Wilson interval.
        ppv: Precision, TP / (TP + FP); Wilson interval.
        npv: TN / (TN + FN); Wilson interval.
        f1: 2TP / (2TP + FP + FN); bootstrap interval.
        auc: One-vs-rest ROC AUC; bootstrap interval; ``None`` when the class is absent from (or
            is the only class of) the true labels.
    """

    support: int
    sensitivity: Estimate
    specificity: Estimate
    ppv: Estimate
    npv: Estimate
    f1: Estimate
    auc: Estimate


@dataclass(frozen=True)
class Prediction(Serial):
    """The model's answer for one image.

    Attributes:
        file: The image path when known (evaluation of a ``Dataset``), else ``None``.
        true: The true class name.
        predicted: The arg-max class name.
        probabilities: Class name -> probability.
    """

    file: str | None
    true: str
    predicted: str
    probabilities: dict[str, float]


@dataclass(frozen=True)
class EvaluationReport(Serial):
    """Everything measured on one test set; what ``evaluation.json`` of a run folder holds.

    Attributes:
        class_names: Class names in label order.
        n: Number of evaluated samples.
        loss: Mean categorical cross-entropy (probabilities clipped to ``[1e-7, 1 - 1e-7]``).
        accuracy: Fraction correct with a Wilson interval.
        per_class: Class name -> :class:`ClassMetrics`.
        macro: Unweighted mean over classes of each metric in :data:`CLASS_METRICS`
            (classes where a metric is undefined are left out), with bootstrap intervals.
        confusion_matrix: ``[true][predicted]`` counts.
        roc_curves: Class name -> ``{"fpr": [...], "tpr": [...], "thresholds": [...]}``
            (one-vs-rest; empty lists when the AUC is undefined; an infinite threshold is
            stored as ``None``).
        calibration: ``{"ece": float, "n_bins": int, "bins": [{"lower", "upper", "count",
            "confidence", "accuracy"}, ...]}`` for the top-1 probability.
        predictions: One :class:`Prediction` per sample, in input order.
        notes: Human-readable remarks (e.g. why an AUC is undefined).
        settings: How the numbers were computed (CI level, bootstrap resamples and seed, bins).
        by: Breakdowns by per-image column: ``{column: {value: EvaluationReport}}`` (each
            without per-image predictions and ROC curves). JSON: ``"by_<column>"`` keys, e.g.
            ``"by_source": {source: {...same metrics with CIs...}}``.

    Examples:
        >>> import numpy as np
        >>> from xraycls.evaluation import compute_metrics
        >>> rep = compute_metrics([0, 1], np.array([[.8, .2], [.3, .7]]), ["a", "b"],
        ...                       n_bootstrap=20)
        >>> rep.accuracy.value, rep.per_class["b"].sensitivity.value
        (1.0, 1.0)
    """

    class_names: list[str]
    n: int
    loss: float | None
    accuracy: Estimate
    per_class: dict[str, ClassMetrics]
    macro: dict[str, Estimate]
    confusion_matrix: list[list[int]]
    roc_curves: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    predictions: list[Prediction] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    by: dict[str, dict[str, EvaluationReport]] = field(default_factory=dict)

    def _to_data(self, data: dict[str, Any]) -> dict[str, Any]:
        # Breakdowns are written as top-level "by_<column>" keys (the evaluation.json layout).
        for column, groups in data.pop("by").items():
            data[f"by_{column}"] = groups
        return data

    @classmethod
    def _migrate(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        # The inverse of _to_data: "by_<column>" keys back into the ``by`` field.
        out = {k: v for k, v in data.items() if not k.startswith("by_")}
        by = {k[3:]: v for k, v in data.items() if k.startswith("by_")}
        if by:
            out["by"] = {**out.get("by", {}), **by}
        return out

    def to_markdown(self, digits: int = 3) -> str:
        """Summary tables: per-class metrics with 95% CIs, macro averages, confusion matrix."""
        level = self.settings.get("ci_level", 0.95)
        lines = [
            f"**Accuracy** {self.accuracy.format(digits)} · **loss** "
            + (f"{self.loss:.4f}" if self.loss is not None else "n/a")
            + f" · **n** = {self.n} · **ECE** "
            + (
                f"{self.calibration['ece']:.{digits}f}"
                if self.calibration.get("ece") is not None
                else "n/a"
            ),
            "",
            "| Class | n | Sensitivity | Specificity | PPV | NPV | F1 | AUC |",
            "|---|---:|---|---|---|---|---|---|",
        ]
        for name in self.class_names:
            m = self.per_class[name]
            cells = [getattr(m, metric).format(digits) for metric in CLASS_METRICS]
            lines.append(f"| {name} | {m.support} | " + " | ".join(cells) + " |")
        cells = [self.macro[metric].format(digits) for metric in CLASS_METRICS]
        lines.append(f"| **macro** | {self.n} | " + " | ".join(cells) + " |")
        lines += [
            "",
            f"Values are point estimates with {level:.0%} confidence intervals (Wilson for "
            "sensitivity, specificity, PPV, NPV and accuracy; percentile bootstrap for F1, AUC "
            "and macro averages).",
            "",
            "| true \\ predicted | " + " | ".join(self.class_names) + " |",
            "|---|" + "---:|" * len(self.class_names),
        ]
        for name, row in zip(self.class_names, self.confusion_matrix, strict=True):
            lines.append(f"| {name} | " + " | ".join(str(x) for x in row) + " |")
        if self.notes:
            lines += ["", *[f"- {note}" for note in self.notes]]
        for column in self.by:
            lines += ["", self.breakdown_markdown(column, digits).rstrip("\n")]
        return "\n".join(lines) + "\n"

    def breakdown_markdown(self, column: str, digits: int = 3) -> str:
        """One row per value of ``column``: n, accuracy and each class's sensitivity (95% CI).

        Raises:
            ConfigError: The report has no breakdown by ``column``.
        """
        if column not in self.by:
            raise ConfigError(
                f"the report has no breakdown by {column!r}; it has {sorted(self.by) or 'none'} "
                "(evaluate(..., by=column))"
            )
        lines = [
            f"**By {column}**",
            "",
            f"| {column} | n | accuracy | "
            + " | ".join(f"{c} sens. (n)" for c in self.class_names)
            + " | macro AUC |",
            "|---|---:|---|" + "---|" * len(self.class_names) + "---|",
        ]
        for value, rep in self.by[column].items():
            cells = [
                f"{rep.per_class[c].sensitivity.format(digits)} ({rep.per_class[c].support})"
                if rep.per_class[c].support
                else "-"
                for c in self.class_names
            ]
            lines.append(
                f"| {value} | {rep.n} | {rep.accuracy.format(digits)} | "
                + " | ".join(cells)
                + f" | {rep.macro['auc'].format(digits)} |"
            )
        return "\n".join(lines) + "\n"
