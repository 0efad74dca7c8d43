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

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import keras
import numpy as np

from xraycls.errors import ConfigError
from xraycls.evaluation._metrics import compute_metrics
from xraycls.evaluation._report import EvaluationReport
from xraycls.imaging import input_size
from xraycls.transforms import transform_of

__all__ = ["evaluate"]


def _predict_batches(
    model: Any, batches: Iterable[Any], rows: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    probs: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    # JAX compiles one prediction program per batch shape: pad a smaller batch to ``rows``
    # (default: the first batch's size) with zero images whose outputs are dropped, so every
    # batch of every evaluation at one batch size (and the trainer's validation) uses one.
    pad = keras.backend.backend() == "jax"
    for item in batches:
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise ConfigError(
                "the evaluation data must yield (images, labels) batches; got "
                f"{type(item).__name__}"
            )
        x, y = item[0], item[1]
        n = len(y)
        rows = n if rows is None else rows
        if pad and n < rows:
            x = np.asarray(x)
            x = np.concatenate([x, np.zeros((rows - n, *x.shape[1:]), x.dtype)])
        probs.append(np.asarray(model.predict_on_batch(x), dtype=np.float64)[:n])
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
    by: str | Sequence[str] | None = None,
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
        by: Per-image column(s) of the ``Dataset`` to break the metrics down by (``"source"``,
            ``"view"``...): the report's ``by[column][value]`` holds the same metrics, with
            intervals, on the images with that value (``"by_source"`` in its JSON).

    Returns:
        The :class:`EvaluationReport`.

    Raises:
        ConfigError: The data is empty or malformed, class names disagree with the model, or
            ``by`` is given for data that is not a ``Dataset``.

    Examples:
        >>> import xraycls  # doctest: +SKIP
        >>> test = xraycls.load_dataset("data/cxr3").split(seed=0)["test"]  # doctest: +SKIP
        >>> print(xraycls.evaluate(model, test).to_markdown())  # doctest: +SKIP
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1; got {batch_size}")
    columns = [by] if isinstance(by, str) else list(by or [])
    if columns and not hasattr(dataset, "column"):
        raise ConfigError(
            f"evaluate(by={by!r}) needs an xraycls Dataset (its per-image columns); got "
            f"{type(dataset).__name__}"
        )
    # 'source' always exists ('unknown' where nothing says); another name is likely a typo.
    missing = [c for c in columns if c != "source" and c not in dataset.meta]
    if missing:
        raise ConfigError(
            f"evaluate(by=...): the dataset has no column {missing}; it has "
            f"{sorted(dataset.meta) or 'none'} (from its CSV or MANIFEST.csv)"
        )
    files: Sequence[str] | None = None
    names = list(class_names) if class_names is not None else None
    transform = transform_of(model)  # the one the model was trained with (saved in its file)
    if hasattr(model, "class_names") and hasattr(model, "model"):  # a Classifier
        names = names or list(model.class_names)
        model = model.model
    if hasattr(dataset, "batches") and hasattr(dataset, "files"):  # an xraycls.data.Dataset
        names = names or list(dataset.class_names)
        files = [str(f) for f in dataset.files]
        # tf.data under TensorFlow, a PyDataset under JAX/PyTorch (no TensorFlow needed).
        batches: Iterable[Any] = dataset.batches(
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
    known = batches is not dataset  # a Dataset or arrays: batched here, by batch_size
    y_true, y_prob = _predict_batches(model, batches, batch_size if known else None)
    if names is None:
        names = [f"class_{k}" for k in range(y_prob.shape[1])]
    if len(names) != y_prob.shape[1]:
        raise ConfigError(
            f"the model predicts {y_prob.shape[1]} classes but {len(names)} class names were "
            f"given ({names})"
        )
    report = compute_metrics(y_true, y_prob, names, files=files, n_bootstrap=n_bootstrap, seed=seed)
    if not columns:
        return report
    breakdown = {
        column: _breakdown(y_true, y_prob, names, dataset.column(column), n_bootstrap, seed)
        for column in columns
    }
    return dataclasses.replace(report, by=breakdown)


def _breakdown(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    names: list[str],
    values: Sequence[str],
    n_bootstrap: int,
    seed: int,
) -> dict[str, EvaluationReport]:
    """One report per column value (largest group first), without per-image predictions."""
    if len(values) != len(y_true):
        raise ConfigError(f"{len(values)} column values for {len(y_true)} predictions")
    column = np.asarray(values, dtype=object)
    uniq, counts = np.unique(column, return_counts=True)
    out: dict[str, EvaluationReport] = {}
    for value in [str(u) for _, u in sorted(zip(-counts, uniq, strict=True))]:
        pick = column == value
        sub = compute_metrics(y_true[pick], y_prob[pick], names, n_bootstrap=n_bootstrap, seed=seed)
        # The overall report already lists every prediction and ROC curve.
        out[value] = dataclasses.replace(sub, predictions=[], roc_curves={})
    return out
