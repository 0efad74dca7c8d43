"""What a calibration *is*: temperature scaling, a COVID operating point and an abstain rule.

The :class:`Calibration` dataclass and its numeric helpers, with no model and no data loading,
so the model handle (:mod:`xraycls.classifier`, which stores and applies a calibration) can sit
below :func:`xraycls.calibrate` (:mod:`xraycls.calibration`, which predicts to fit one).
:mod:`xraycls.calibration` re-exports every name here.

Examples:
    >>> import numpy as np
    >>> from xraycls.decision import fit_calibration
    >>> y = np.array([0, 0, 1, 1, 2, 2] * 10)
    >>> p = np.eye(3)[y] * 0.9 + 0.1 / 3
    >>> cal = fit_calibration(p, y, ["COVID", "Normal", "Viral Pneumonia"])
    >>> cal.decide(cal.probabilities(p[:3]), ["COVID", "Normal", "Viral Pneumonia"])
    ['COVID', 'COVID', 'not COVID']
"""

from __future__ import annotations

from xraycls.decision._calibration import (
    MIN_IMAGES,
    MIN_PER_CLASS,
    REFER,
    Calibration,
    check_options,
    fit_calibration,
    positive_class_of,
    wilson_interval,
)
from xraycls.decision._math import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    operating_point,
)

__all__ = [
    "MIN_IMAGES",
    "MIN_PER_CLASS",
    "REFER",
    "Calibration",
    "apply_temperature",
    "check_options",
    "expected_calibration_error",
    "fit_calibration",
    "fit_temperature",
    "operating_point",
    "positive_class_of",
    "wilson_interval",
]
