"""``calibrate()``: fit a :class:`Calibration` on validation images and store it in the model."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

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
    model: Any, dataset: Any, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    from xraycls.imaging import input_size
    from xraycls.transforms import transform_of

    batches = dataset.batches(  # tf.data on TensorFlow, a PyDataset on JAX/PyTorch
        batch_size=batch_size,
        image_size=input_size(model),
        shuffle=False,
        input_transform=transform_of(model),  # what the model was trained with, as evaluate does
    )
    probs, labels = [], []
    for x, y in batches:
        probs.append(np.asarray(model.predict_on_batch(x), dtype=np.float64))
        labels.append(np.asarray(y).argmax(axis=1))
    if not probs:
        raise ConfigError("the calibration data holds no image")
    return np.concatenate(probs), np.concatenate(labels)


def _check_writable(model: str | os.PathLike[str]) -> None:
    """Fail before the minutes of predicting if the model file cannot be rewritten.

    The calibration is stored by rewriting the file through a temporary file beside it, so
    both the file and its folder must be writable.
    """
    path = Path(model)
    if not path.is_file():
        return  # read_model_info names the missing file
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


def calibrate(
    model: str | os.PathLike[str],
    data: Any,
    *,
    positive_class: str | None = None,
    target_sensitivity: float = 0.95,
    refer_below: float = 0.5,
    max_spread: float = 0.15,
    batch_size: int = 32,
    save: bool = True,
    min_images: int = MIN_IMAGES,
    min_per_class: int = MIN_PER_CLASS,
) -> Calibration:
    """Fit temperature scaling and the operating point on validation data; store them.

    Run this on images the model was **not** trained on (the validation split): the
    temperature and the threshold are only as good as the data they are fitted on.

    Args:
        model: A model file written by xraycls (``best.keras``).
        data: A validation dataset folder or CSV manifest (anything
            :func:`xraycls.load_dataset` reads), or an :class:`xraycls.Dataset`. Its classes
            are matched to the model's by name.
        positive_class: The class the threshold is chosen for; default the COVID class.
        target_sensitivity: Sensitivity the operating threshold must reach (default 0.95).
        refer_below: Refer (abstain) when the top calibrated probability is below this.
        max_spread: Refer when the test-time-augmentation spread is above this.
        batch_size: Images per forward pass.
        save: Write the result into the model file's ``xraycls.json`` (key ``calibration``);
            checked to be possible before any work.
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
    from xraycls.zoo import load_model, read_model_info, update_model_info

    check_options(
        target_sensitivity=target_sensitivity,
        refer_below=refer_below,
        max_spread=max_spread,
        min_images=min_images,
        min_per_class=min_per_class,
        batch_size=batch_size,
    )
    info = read_model_info(model)
    if save:
        _check_writable(model)
    names = [str(c) for c in info["class_names"]]
    if hasattr(data, "to_tf_dataset"):
        dataset = data
    else:
        from xraycls.data import load_dataset

        dataset = load_dataset(data, classes=names)
    missing = [c for c in names if c not in list(dataset.class_names)]
    if missing or list(dataset.class_names) != names:
        raise ConfigError(
            f"calibration data classes {list(dataset.class_names)} do not match the model's "
            f"{names} (missing: {missing})"
        )
    keras_model = load_model(model, compile=False)
    probs, labels = _validation_predictions(keras_model, dataset, batch_size)
    cal = fit_calibration(
        probs,
        labels,
        names,
        positive_class=positive_class,
        target_sensitivity=target_sensitivity,
        refer_below=refer_below,
        max_spread=max_spread,
        min_images=min_images,
        min_per_class=min_per_class,
    )
    if save:
        update_model_info(model, {INFO_KEY: cal.to_dict()})
    return cal
