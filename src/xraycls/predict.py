"""``xraycls.predict``: the names of the model handle, where they were first imported from.

The handle lives in :mod:`xraycls.classifier` (below evaluation, which takes it); this module
keeps ``from xraycls.predict import Classifier`` working.

Examples:
    >>> from xraycls.predict import Classifier
    >>> from xraycls.classifier import Classifier as Handle
    >>> Classifier is Handle
    True
"""

from __future__ import annotations

from xraycls.classifier import Classifier, ImagePrediction, expand_paths

__all__ = ["Classifier", "ImagePrediction", "expand_paths"]
