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

# Every public name of the two modules, listed once: in their own ``__all__``.
from xraycls.decision import _calibration, _math
from xraycls.decision._calibration import *  # noqa: F403
from xraycls.decision._math import *  # noqa: F403

__all__ = [*_calibration.__all__, *_math.__all__]
