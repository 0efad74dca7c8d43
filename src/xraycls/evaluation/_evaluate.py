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

import numpy as np

from xraycls.classifier import Classifier, ModelLike, as_classifier, dataset_items
from xraycls.errors import ConfigError
from xraycls.evaluation._metrics import compute_metrics
from xraycls.evaluation._report import EvaluationReport

__all__ = ["evaluate"]


def _columns(dataset: Any, by: str | Sequence[str] | None) -> list[str]:
    """The ``by`` columns, checked against the dataset before any prediction."""
    from xraycls.data import Dataset

    columns = [by] if isinstance(by, str) else list(by or [])
    if columns and not isinstance(dataset, Dataset):
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
    return columns


def _predict(
    clf: Classifier, dataset: Any, batch_size: int
) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """``(labels, probabilities, files)`` of the data, through the one prediction loop."""
    from xraycls.data import Dataset

    if isinstance(dataset, Dataset):
        # Read, stored input transform and letterbox as in training (Classifier.prepare).
        parts: Iterable[Any] = clf.predict_batches(dataset_items(dataset), batch_size=batch_size)
        probs = [p.probabilities for p in parts]
        labels = np.asarray(dataset.labels)
        files: list[str] | None = [str(f) for f in dataset.files]
    elif isinstance(dataset, tuple) and len(dataset) == 2 and hasattr(dataset[0], "shape"):
        x, y = np.asarray(dataset[0], dtype=np.float32), np.asarray(dataset[1])
        if len(x) != len(y):
            raise ConfigError(f"{len(x)} images but {len(y)} labels")
        # Arrays are model inputs already (fitted, transformed): fed as given.
        parts = clf.predict_batches(
            list(range(len(x))), prepare=x.__getitem__, batch_size=batch_size
        )
        probs, labels, files = [p.probabilities for p in parts], y, None
    else:  # ready (images, labels) batches: a tf.data.Dataset, a generator...
        probs, ys = [], []
        for part in clf.predict_batches(batches=_checked(dataset)):
            probs.append(part.probabilities)
            ys.append(np.asarray(part.items))
        labels = np.concatenate(ys, axis=0) if ys else np.zeros(0)
        files = None
    if not probs or not sum(len(p) for p in probs):
        raise ConfigError("the evaluation data is empty")
    return labels, np.concatenate(probs, axis=0), files


def _checked(batches: Iterable[Any]) -> Iterable[Any]:
    for item in batches:
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise ConfigError(
                "the evaluation data must yield (images, labels) batches; got "
                f"{type(item).__name__}"
            )
        yield item[0], item[1]


def evaluate(
    model: ModelLike,
    dataset: Any,
    *,
    batch_size: int = 32,
    class_names: Sequence[str] | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    by: str | Sequence[str] | None = None,
) -> EvaluationReport:
    """Predict a test set with ``model`` and compute every metric on the result.

    Predictions come from :meth:`xraycls.Classifier.predict_batches`, so the model's stored
    input transform and calibration apply as in ``xraycls predict``.

    Args:
        model: A ``.keras`` path, a :class:`xraycls.Classifier` or a Keras model taking raw
            ``[0, 255]`` RGB batches (:func:`xraycls.as_classifier`).
        dataset: An :class:`xraycls.data.Dataset` (decoded, passed through the model's stored
            :class:`xraycls.transforms.InputTransform`, and letterboxed to the model's
            input size, in file order; file paths go into the per-image predictions), a
            ``tf.data.Dataset`` / iterable of ``(images, labels)`` batches, or an
            ``(images, labels)`` pair of arrays (both at the model's input size). Labels may
            be indices or one-hot.
        batch_size: Batch size for a ``Dataset`` or array input.
        class_names: Class names; default: the dataset's, then the model's, then
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
    from xraycls.data import Dataset

    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1; got {batch_size}")
    columns = _columns(dataset, by)
    data_names = list(dataset.class_names) if isinstance(dataset, Dataset) else None
    clf = as_classifier(model, class_names=data_names)  # stored names must match the data's
    names = list(class_names) if class_names is not None else clf.class_names
    if len(names) != len(clf.class_names):
        raise ConfigError(
            f"the model predicts {len(clf.class_names)} classes but {len(names)} class names "
            f"were given ({names})"
        )
    y_true, y_prob, files = _predict(clf, dataset, batch_size)
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
