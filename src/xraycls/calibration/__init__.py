"""Calibrated decisions: temperature scaling, a COVID operating point and an abstain rule.

:func:`calibrate` fits them on validation images and stores them in the model file, so every
:class:`xraycls.Classifier`, ``xraycls predict`` and ``xraycls serve`` use them from then on.

Examples:
    >>> import numpy as np
    >>> from xraycls.calibration import fit_calibration
    >>> y = np.array([0, 0, 1, 1, 2, 2] * 10)
    >>> p = np.eye(3)[y] * 0.9 + 0.1 / 3
    >>> cal = fit_calibration(p, y, ["COVID", "Normal", "Viral Pneumonia"])
    >>> cal.decide(cal.probabilities(p[:3]), ["COVID", "Normal", "Viral Pneumonia"])
    ['COVID', 'COVID', 'not COVID']
"""

from __future__ import annotations

from xraycls.calibration._calibrate import INFO_KEY, calibrate
from xraycls.decision import (
    MIN_IMAGES,
    MIN_PER_CLASS,
    REFER,
    Calibration,
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
    "INFO_KEY",
    "MIN_IMAGES",
    "MIN_PER_CLASS",
    "REFER",
    "Calibration",
    "apply_temperature",
    "calibrate",
    "expected_calibration_error",
    "fit_calibration",
    "fit_temperature",
    "operating_point",
    "positive_class_of",
    "wilson_interval",
]
