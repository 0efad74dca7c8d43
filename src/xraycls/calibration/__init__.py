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

from xraycls import decision as _decision
from xraycls.calibration._calibrate import INFO_KEY, calibrate

# What a calibration is (the dataclass and its math) lives one layer lower, in
# xraycls.decision, so the model handle can hold one; every name of it is re-exported here.
from xraycls.decision import *  # noqa: F403

__all__ = ["INFO_KEY", "calibrate", *_decision.__all__]
