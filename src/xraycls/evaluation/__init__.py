"""Evaluation: clinical metrics with confidence intervals and the :class:`EvaluationReport`.

Examples:
    >>> import numpy as np
    >>> from xraycls.evaluation import compute_metrics
    >>> rep = compute_metrics([0, 1, 1], np.array([[.7, .3], [.4, .6], [.1, .9]]), ["a", "b"],
    ...                       n_bootstrap=50)
    >>> rep.accuracy.value
    1.0
"""

from xraycls.evaluation._evaluate import evaluate
from xraycls.evaluation._metrics import (
    compute_metrics,
    expected_calibration_error,
    wilson_interval,
)
from xraycls.evaluation._report import ClassMetrics, Estimate, EvaluationReport, Prediction

__all__ = [
    "ClassMetrics",
    "Estimate",
    "EvaluationReport",
    "Prediction",
    "compute_metrics",
    "evaluate",
    "expected_calibration_error",
    "wilson_interval",
]
