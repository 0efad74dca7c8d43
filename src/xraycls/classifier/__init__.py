"""The model handle: :class:`Classifier`, :func:`as_classifier` and the one prediction loop.

A :class:`Classifier` is a Keras model with its :class:`xraycls.zoo.ModelInfo` (class names,
input size, resize mode, input transform, calibration, training data). Every entry point turns
its ``model`` argument (a path, a ``Classifier`` or a Keras model) into one with
:func:`as_classifier`, and predicts through :meth:`Classifier.predict_batches`.

Examples:
    >>> import numpy as np, keras
    >>> from xraycls.classifier import as_classifier
    >>> net = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
    ...                         keras.layers.Dense(2, activation="softmax")])
    >>> clf = as_classifier(net, class_names=["a", "b"])
    >>> [b.probabilities.shape for b in clf.predict_batches([np.zeros((8, 8), np.uint8)] * 3,
    ...                                                     batch_size=2)]
    [(2, 2), (1, 2)]
"""

from __future__ import annotations

from xraycls.classifier._classifier import Classifier, ImagePrediction, expand_paths
from xraycls.classifier._loop import PredictionBatch, dataset_items
from xraycls.classifier._resolve import ModelLike, as_classifier, knows_class_names

__all__ = [
    "Classifier",
    "ImagePrediction",
    "ModelLike",
    "PredictionBatch",
    "as_classifier",
    "dataset_items",
    "expand_paths",
    "knows_class_names",
]
