"""``calibrate()``: fit a :class:`Calibration` on validation images and store it in the model."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from xraycls.classifier import Classifier, ModelLike, as_classifier, dataset_items
from xraycls.decision._calibration import (
    MIN_IMAGES,
    MIN_PER_CLASS,
    Calibration,
    check_options,
    fit_calibration,
)
from xraycls.errors import ConfigError, ModelFileError

__all__ = ["calibrate"]

#: Key of the calibration inside the model file's ``xraycls.json``.
INFO_KEY = "calibration"


def _validation_predictions(
    clf: Classifier, dataset: Any, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Raw (uncalibrated) probabilities and label indices, from the one prediction loop."""
    parts = clf.predict_batches(dataset_items(dataset), batch_size=batch_size, calibrated=False)
    probs = [p.probabilities for p in parts]
    if not probs:
        raise ConfigError("the calibration data holds no image")
    labels = np.asarray(dataset.labels)
    return np.concatenate(probs), labels.argmax(axis=1) if labels.ndim == 2 else labels


def _check_writable(model: str | os.PathLike[str]) -> None:
    """Fail before the minutes of predicting if the model file cannot be rewritten.

    The calibration is stored by rewriting the file through a temporary file beside it, so
    both the file and its folder must be writable.
    """
    path = Path(model)
    if not path.is_file():
        return  # load_model_info names the missing file
    reason = None
    if not os.access(path, os.W_OK):
        reason = "the file is read-only"
    else:
        try:
            with tempfile.NamedTemporaryFile(
                dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
            ):
                pass
        except OSError as exc:
            reason = f"its folder is not writable ({exc.strerror or exc})"
    if reason is not None:
        raise ModelFileError(
            f"{os.fspath(model)}: cannot store the calibration in it: {reason};",
            hint="copy the model to a writable place, or pass save=False to only see the result",
            hint_cli="copy the model to a writable place, or add --dry-run to only see the result",
        )


def _dataset(data: Any, names: list[str]) -> Any:
    """The calibration data as a ``Dataset`` with exactly the model's classes, in order."""
    from xraycls.data import Dataset, load_dataset

    dataset = data if isinstance(data, Dataset) else load_dataset(data, classes=names)
    missing = [c for c in names if c not in list(dataset.class_names)]
    if missing or list(dataset.class_names) != names:
        raise ConfigError(
            f"calibration data classes {list(dataset.class_names)} do not match the model's "
            f"{names} (missing: {missing})"
        )
    return dataset


def calibrate(
    model: ModelLike,
    data: Any,
    *,
    positive_class: str | None = None,
    target_sensitivity: float = 0.95,
    refer_below: float = 0.5,
    max_spread: float = 0.15,
    batch_size: int = 32,
    save: bool | None = None,
    min_images: int = MIN_IMAGES,
    min_per_class: int = MIN_PER_CLASS,
) -> Calibration:
    """Fit temperature scaling and the operating point on validation data; store them.

    Run this on images the model was **not** trained on (the validation split): the
    temperature and the threshold are only as good as the data they are fitted on.

    Args:
        model: A model file written by xraycls (``best.keras``), a
            :class:`xraycls.Classifier` or a Keras model (:func:`xraycls.as_classifier`).
            Predictions are the raw softmax: a stored calibration is refitted, not stacked.
        data: A validation dataset folder or CSV manifest (anything
            :func:`xraycls.load_dataset` reads), or an :class:`xraycls.Dataset`. Its classes
            are matched to the model's by name.
        positive_class: The class the threshold is chosen for; default the COVID class.
        target_sensitivity: Sensitivity the operating threshold must reach (default 0.95).
        refer_below: Refer (abstain) when the top calibrated probability is below this.
        max_spread: Refer when the test-time-augmentation spread is above this.
        batch_size: Images per forward pass.
        save: Write the result into the model file's ``xraycls.json`` (key ``calibration``);
            checked to be possible before any work. Default: when ``model`` is a file (a
            ``Classifier`` or Keras model has no file to write; ``save=True`` with one is an
            error).
        min_images: Fewest calibration images accepted (default 20).
        min_per_class: Fewest images of each class accepted (default 5).

    Returns:
        The fitted :class:`Calibration` (ECE before/after, sensitivity, specificity, AUC).

    Raises:
        ConfigError: An option out of range, the data lacks a model class, or has fewer images
            (per class) than the minimum.
        ModelFileError: The model file is missing, corrupt or cannot be rewritten (checked
            before predicting).

    Examples:
        >>> import xraycls
        >>> cal = xraycls.calibrate("runs/x/best.keras", "data/val")  # doctest: +SKIP
        >>> cal.ece_before, cal.ece_after, cal.threshold  # doctest: +SKIP
        (0.081, 0.024, 0.21)
    """
    from xraycls.zoo import update_model_info

    # Checked before anything is read or predicted; fit_calibration checks them again.
    options: dict[str, Any] = {
        "target_sensitivity": target_sensitivity,
        "refer_below": refer_below,
        "max_spread": max_spread,
        "min_images": min_images,
        "min_per_class": min_per_class,
    }
    check_options(**options, batch_size=batch_size)
    path = model if isinstance(model, (str, os.PathLike)) else None
    if save and path is None:
        raise ConfigError(
            f"calibrate(save=True) writes into the model file, but model is a "
            f"{type(model).__name__}; pass the .keras path, or save=False"
        )
    target = path if save or save is None else None
    if target is not None:
        _check_writable(target)
    clf = as_classifier(model)
    names = clf.class_names
    dataset = _dataset(data, names)
    probs, labels = _validation_predictions(clf, dataset, batch_size)
    cal = fit_calibration(probs, labels, names, positive_class=positive_class, **options)
    if target is not None:
        update_model_info(target, {INFO_KEY: cal.to_dict()})
    return cal
