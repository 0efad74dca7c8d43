"""`RobustnessReport`: clean and shifted metrics of one model on one dataset, as data.

Examples:
    >>> from xraycls.robustness import RobustnessReport, ShiftResult
    >>> rep = RobustnessReport(
    ...     class_names=["COVID", "Normal"], n=10, seed=0,
    ...     clean={"accuracy": 0.9, "covid_sensitivity": 1.0, "covid_specificity": 0.8},
    ...     corruptions={"blur": ShiftResult([1, 5], [0.9, 0.5], [1.0, 0.5], [0.8, 0.5])})
    >>> rep.mean_corruption_accuracy, round(rep.relative_drop, 4)
    (0.7, 0.2222)
    >>> RobustnessReport.from_json(rep.to_json()) == rep
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xraycls._serial import Serial
from xraycls.errors import ConfigError
from xraycls.reporting._tables import ROBUSTNESS_ROWS, cells, markdown

__all__ = ["SUITE_VERSION", "RobustnessReport", "ShiftResult", "shift_metrics"]

#: Bumped whenever a shift of the catalogue changes, so old and new numbers are not compared.
SUITE_VERSION = 1


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def covid_index(class_names: Sequence[str]) -> int | None:
    """Index of the first class whose name starts with ``COVID`` (any case), else ``None``."""
    return next(
        (i for i, name in enumerate(class_names) if str(name).upper().startswith("COVID")), None
    )


def shift_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, COVID sensitivity/specificity and per-class sensitivity of hard predictions.

    COVID metrics are ``None`` when no class name starts with ``COVID``; a rate is ``None``
    when its denominator is empty.

    Examples:
        >>> import numpy as np
        >>> m = shift_metrics(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), ["COVID", "Normal"])
        >>> m["accuracy"], m["covid_sensitivity"], m["covid_specificity"], m["sensitivity"]
        (0.75, 0.5, 1.0, {'COVID': 0.5, 'Normal': 1.0})
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)

    def rate(hit: np.ndarray, among: np.ndarray) -> float | None:
        total = int(among.sum())
        return float((hit & among).sum() / total) if total else None

    covid = covid_index(class_names)
    out: dict[str, Any] = {
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else None,
        "covid_sensitivity": None,
        "covid_specificity": None,
    }
    if covid is not None:
        out["covid_sensitivity"] = rate(y_pred == covid, y_true == covid)
        out["covid_specificity"] = rate(y_pred != covid, y_true != covid)
    out["sensitivity"] = {
        str(name): rate(y_pred == k, y_true == k) for k, name in enumerate(class_names)
    }
    return out


@dataclass
class ShiftResult(Serial):
    """Metrics of one shift kind, one entry per severity.

    Attributes:
        severities: The severities measured, in order.
        accuracy: Accuracy at each severity.
        covid_sensitivity: COVID sensitivity at each severity (``None`` without a COVID class).
        covid_specificity: COVID specificity at each severity.
        sensitivity: Per-class sensitivity (recall): class name -> one value per severity.

    JSON also holds ``mean_accuracy`` (for readers; recomputed, not read back).
    """

    _derived = ("mean_accuracy",)

    severities: list[int]
    accuracy: list[float]
    covid_sensitivity: list[float | None]
    covid_specificity: list[float | None]
    sensitivity: dict[str, list[float | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.severities)
        self.severities = [int(s) for s in self.severities]
        self.accuracy = [float(a) for a in self.accuracy]
        self.covid_sensitivity = [_num(v) for v in self.covid_sensitivity]
        self.covid_specificity = [_num(v) for v in self.covid_specificity]
        self.sensitivity = {str(k): [_num(v) for v in vs] for k, vs in self.sensitivity.items()}
        lists: list[list[Any]] = [self.accuracy, self.covid_sensitivity, self.covid_specificity]
        if n == 0 or any(len(v) != n for v in [*lists, *self.sensitivity.values()]):
            raise ConfigError(
                f"ShiftResult: every metric needs one value per severity ({n} severities)"
            )

    @property
    def mean_accuracy(self) -> float:
        """Mean accuracy over the severities."""
        return float(np.mean(self.accuracy))


@dataclass
class RobustnessReport(Serial):
    """What :func:`xraycls.robustness.evaluate_robustness` measured.

    Attributes:
        class_names: Class names, in model output order.
        n: Images evaluated (each at every kind and severity).
        seed: Seed of the shifts (image ``i`` is shifted with a seed drawn from ``(seed, i)``).
        clean: Metrics on the unshifted images: ``accuracy``, ``covid_sensitivity``,
            ``covid_specificity`` and ``sensitivity`` (class -> recall).
        corruptions: Shift kind -> :class:`ShiftResult`, in catalogue order.
        model: What was evaluated (a file path or the Keras model's name).
        seconds: Wall time of the whole evaluation.
        suite_version: Version of the shift catalogue the numbers come from.

    ``to_dict`` is the ``robustness.json`` layout: the fields, plus ``mean_corruption_accuracy``
    and ``relative_drop`` for readers (recomputed, not read back).
    """

    _derived = ("mean_corruption_accuracy", "relative_drop")

    class_names: list[str]
    n: int
    seed: int
    clean: dict[str, Any]
    corruptions: dict[str, ShiftResult]
    model: str = ""
    seconds: float = 0.0
    suite_version: int = SUITE_VERSION

    @property
    def mean_corruption_accuracy(self) -> float | None:
        """Accuracy averaged over every kind and severity (``None`` without corruptions)."""
        values = [a for r in self.corruptions.values() for a in r.accuracy]
        return float(np.mean(values)) if values else None

    @property
    def relative_drop(self) -> float | None:
        """``1 - mean corruption accuracy / clean accuracy``: the share of accuracy lost."""
        clean, mca = _num(self.clean.get("accuracy")), self.mean_corruption_accuracy
        if clean is None or mca is None or clean == 0:
            return None
        return 1.0 - mca / clean

    def to_markdown(self, digits: int = 3) -> str:
        """Accuracy per kind and severity, then the summary, as Markdown tables.

        Examples:
            >>> rep = RobustnessReport(["COVID", "Normal"], 4, 0, {"accuracy": 1.0},
            ...     {"jpeg": ShiftResult([1, 5], [1.0, 0.5], [None, None], [None, None])})
            >>> print(rep.to_markdown(2))
            | shift | 1 | 5 | mean |
            |---|---:|---:|---:|
            | jpeg | 1.00 | 0.50 | 0.75 |
            <BLANKLINE>
            | summary | value |
            |---|---:|
            | clean accuracy | 1.00 |
            | mean corruption accuracy | 0.75 |
            | relative drop | 25.0% |
            | clean COVID sensitivity | n/a |
            | clean COVID specificity | n/a |
            | images | 4 |
            | shift seed | 0 |
        """

        def cell(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.{digits}f}"

        severities = sorted({s for r in self.corruptions.values() for s in r.severities})
        rows = []
        for kind, r in self.corruptions.items():
            by = dict(zip(r.severities, r.accuracy, strict=True))
            rows.append([kind, *(cell(by.get(s)) for s in severities), cell(r.mean_accuracy)])
        kinds = markdown(["shift", *(str(s) for s in severities), "mean"], rows)
        summary = markdown(["summary", "value"], cells(ROBUSTNESS_ROWS, self.to_dict(), digits))
        return f"{kinds}\n\n{summary}"
