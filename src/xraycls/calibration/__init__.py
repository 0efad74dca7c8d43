"""Calibrated decisions: temperature scaling, a COVID operating point and an abstain rule.

:func:`calibrate` fits them on validation images and stores them in the model file, so every
:class:`xraycls.Classifier`, ``xraycls predict`` and ``xraycls serve`` use them from then on.

The calibration itself (:class:`Calibration`, :func:`fit_calibration`) is
:mod:`xraycls.decision`'s, re-exported here.

Examples:
    >>> from xraycls.calibration import calibrate
    >>> cal = calibrate("run/best.keras", "data/val")  # doctest: +SKIP
    >>> cal.threshold, cal.sensitivity  # doctest: +SKIP
    (0.31, 0.95)
"""

from __future__ import annotations

from xraycls import decision as _decision
from xraycls.calibration._calibrate import INFO_KEY, calibrate

# What a calibration is (the dataclass and its math) lives one layer lower, in
# xraycls.decision, so the model handle can hold one; every name of it is re-exported here.
from xraycls.decision import *  # noqa: F403

__all__ = ["INFO_KEY", "calibrate", *_decision.__all__]
