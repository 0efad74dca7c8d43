"""Robustness to acquisition shifts: a seeded catalogue of shifts and a suite that measures them.

COVID-19 X-ray classifiers often learn the source of an image (scanner, export path, burned-in
text, borders) instead of the disease. This package measures how a model holds up when the
acquisition changes:

* :func:`list_shifts` / :func:`shift_catalogue` / :func:`apply_shift`: twelve documented shifts
  CXRs really meet (JPEG, resolution loss, aspect squash, gamma, contrast, noise, blur, burned-in
  text and markers, collimation borders, off-centre crop, rotation, inverted polarity), each a
  pure function of ``(image, severity 0-5, seed)``;
* :func:`evaluate_robustness`: a model on every shifted copy of a dataset, returning a
  :class:`RobustnessReport` (clean and per kind x severity accuracy and COVID
  sensitivity/specificity, mean corruption accuracy, relative drop);
* :func:`save_robustness`: ``robustness.json``, a heat-map and a sample sheet;
* :class:`ShiftAugment`: the same shifts as a training-time imgaug augmenter.

See ``docs/robustness.md``.

Examples:
    >>> import numpy as np
    >>> from xraycls.robustness import apply_shift, list_shifts
    >>> image = np.full((40, 50), 90, np.uint8)
    >>> all(apply_shift(image, k, 3).shape == (40, 50) for k in list_shifts())
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xraycls.robustness._evaluate import evaluate_robustness
from xraycls.robustness._report import SUITE_VERSION, RobustnessReport, ShiftResult, shift_metrics
from xraycls.robustness._save import HEATMAP_NAME, JSON_NAME, SAMPLES_NAME, save_robustness
from xraycls.robustness._shifts import (
    MAX_SEVERITY,
    ShiftSpec,
    apply_shift,
    list_shifts,
    shift_catalogue,
)

__all__ = [
    "HEATMAP_NAME",
    "JSON_NAME",
    "MAX_SEVERITY",
    "SAMPLES_NAME",
    "SUITE_VERSION",
    "RobustnessReport",
    "ShiftAugment",
    "ShiftResult",
    "ShiftSpec",
    "apply_shift",
    "evaluate_robustness",
    "list_shifts",
    "save_robustness",
    "shift_catalogue",
    "shift_metrics",
]


def __getattr__(name: str) -> Any:
    # ShiftAugment needs imgaug, which takes seconds to import; the CLI's --help lists the
    # kinds from this package and must stay fast.
    if name == "ShiftAugment":
        from xraycls.robustness._augment import ShiftAugment

        return ShiftAugment
    raise AttributeError(f"module 'xraycls.robustness' has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from xraycls.robustness._augment import ShiftAugment
