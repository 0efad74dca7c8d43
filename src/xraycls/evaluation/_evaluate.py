"""Run a model over a test set and measure it: :func:`evaluate`.

Examples:
    >>> import numpy as np, keras
    >>> from xraycls.evaluation import evaluate
    >>> inp = keras.Input((4, 4, 3))
    >>> out = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inp))
    >>> x = np.zeros((6, 4, 4, 3), "float32"); y = np.array([0, 1, 0, 1, 0, 1])
    >>> rep = evaluate(keras.Model(inp, out), (x, y), class_names=["a", "b"], n_bootstrap=10)
    >>> rep.n
    6
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from xraycls.errors import ConfigError
from xraycls.evaluation._metrics import compute_metrics
from xraycls.evaluation._report import EvaluationReport
from xraycls.imaging import input_size
from xraycls.transforms import transform_of

__all__ = ["evaluate"]


def _predict_batches(model: Any, batches: Iterable[Any]) -> tuple[np.ndarray, np.ndarray]:
    probs: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for item in batches:
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise ConfigError(
                "the evaluation data must yield (images, labels) batches; got "
                f"{type(item).__name__}"
            )
        x, y = item[0], item[1]
        probs.append(np.asarray(model.predict_on_batch(x), dtype=np.float64))
        labels.append(np.asarray(y))
    if not probs:
        raise ConfigError("the evaluation data is empty")
    return np.concatenate(labels, axis=0), np.concatenate(probs, axis=0)


def evaluate(
    model: Any,
    dataset: Any,
    *,
    batch_size: int = 32,
    class_names: Sequence[str] | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> EvaluationReport:
    """Predict a test set with ``model`` and compute every metric on the result.

    Args:
        model: A Keras model taking raw ``[0, 255]`` RGB batches, or a
            :class:`xraycls.predict.Classifier` (its ``model`` and class names are used).
        dataset: An :class:`xraycls.data.Dataset` (decoded, passed through the model's stored
            :class:`xraycls.transforms.InputTransform`, and letterboxed to the model's
            input size, in file order; file paths go into the per-image predictions), a
            ``tf.data.Dataset`` / iterable of ``(images, labels)`` batches, or an
            ``(images, labels)`` pair of arrays. Labels may be indices or one-hot.
        batch_size: Batch size for a ``Dataset`` or array input.
        class_names: Class names; default: the dataset's, then the classifier's, then
            ``class_0 ...``.
        n_bootstrap: Bootstrap resamples for the F1 / AUC intervals.
        seed: Bootstrap seed.

    Returns:
        The :class:`EvaluationReport`.

    Raises:
        ConfigError: The data is empty or malformed, or class names disagree with the model.

    Examples:
        >>> import xraycls  # doctest: +SKIP
        >>> test = xraycls.load_dataset("data/cxr3").split(seed=0)["test"]  # doctest: +SKIP
        >>> print(xraycls.evaluate(model, test).to_markdown())  # doctest: +SKIP
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1; got {batch_size}")
    files: Sequence[str] | None = None
    names = list(class_names) if class_names is not None else None
    transform = transform_of(model)  # the one the model was trained with (saved in its file)
    if hasattr(model, "class_names") and hasattr(model, "model"):  # a Classifier
        names = names or list(model.class_names)
        model = model.model
    if hasattr(dataset, "to_tf_dataset"):  # an xraycls.data.Dataset
        names = names or list(dataset.class_names)
        files = [str(f) for f in dataset.files]
        batches: Iterable[Any] = dataset.to_tf_dataset(
            batch_size=batch_size,
            image_size=input_size(model),
            shuffle=False,
            input_transform=transform,
        )
    elif isinstance(dataset, tuple) and len(dataset) == 2 and hasattr(dataset[0], "shape"):
        x, y = np.asarray(dataset[0], dtype=np.float32), np.asarray(dataset[1])
        if len(x) != len(y):
            raise ConfigError(f"{len(x)} images but {len(y)} labels")
        batches = (
            (x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(x), batch_size)
        )
    else:
        batches = dataset
    y_true, y_prob = _predict_batches(model, batches)
    if names is None:
        names = [f"class_{k}" for k in range(y_prob.shape[1])]
    if len(names) != y_prob.shape[1]:
        raise ConfigError(
            f"the model predicts {y_prob.shape[1]} classes but {len(names)} class names were "
            f"given ({names})"
        )
    return compute_metrics(y_true, y_prob, names, files=files, n_bootstrap=n_bootstrap, seed=seed)
