"""`evaluate_robustness`: one model on every shifted copy of a dataset, batched.

Each file is decoded once and kept in memory (gray radiographs as one channel). Every
prediction is then one item of a single stream ``(condition, image)`` through the one
prediction loop (:meth:`xraycls.Classifier.predict_batches`): its threads shift and letterbox
the next batches (OpenCV releases the GIL) while the model runs on the current one, so the suite
costs about what its predictions cost (``benchmarks/robustness.py``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from xraycls.classifier import ModelLike, as_classifier, knows_class_names
from xraycls.errors import ConfigError
from xraycls.imaging import as_image
from xraycls.robustness._report import RobustnessReport, ShiftResult, shift_metrics
from xraycls.robustness._shifts import MAX_SEVERITY, apply_shift, check_kinds, check_severity

__all__ = ["evaluate_robustness"]


def _check_severities(severities: Any) -> list[int]:
    if isinstance(severities, (int, np.integer)) and not isinstance(severities, bool):
        severities = [severities]
    try:
        values = [check_severity(s, "severities") for s in severities]
    except TypeError:
        raise ConfigError(
            f"severities: expected a sequence of ints 1..{MAX_SEVERITY}, got {severities!r}"
        ) from None
    if not values or 0 in values:
        raise ConfigError(
            f"severities: expected ints 1..{MAX_SEVERITY} (severity 0 is the clean image, "
            f"always measured), got {list(values)}"
        )
    return sorted(set(values))


def _dataset(dataset: Any, names: list[str] | None) -> Any:
    """An xraycls ``Dataset`` (a folder or CSV is loaded with the model's classes); not empty."""
    from xraycls.data import Dataset, load_dataset

    if isinstance(dataset, (str, os.PathLike)):
        dataset = load_dataset(Path(dataset), classes=names)
    if not isinstance(dataset, Dataset):
        raise ConfigError(
            f"dataset: expected an xraycls Dataset or a dataset folder, got "
            f"{type(dataset).__name__}"
        )
    if len(dataset.files) == 0:
        raise ConfigError("dataset: it is empty; nothing to evaluate")
    return dataset


def _load_one(dataset: Any, i: int) -> np.ndarray:
    from xraycls.io import load_image

    memory = dataset.images[i] if dataset.images is not None else None
    if memory is not None:
        image = as_image(
            np.asarray(memory), f"dataset.images[{i}] ({dataset.files[i]})", channels=(1, 3, 4)
        )
    else:
        image = load_image(dataset.files[i])
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    gray = image.ndim == 3 and bool((image[:, :, 0] == image[:, :, 1]).all())
    if gray and bool((image[:, :, 0] == image[:, :, 2]).all()):
        # A gray radiograph: keep one channel (a third of the memory and of the work).
        return np.ascontiguousarray(image[:, :, 0])
    return image


def _image_seeds(seed: int, n: int) -> np.ndarray:
    # One independent seed per image, so text lands in a different place on every image and
    # adding or removing other kinds never changes an image's shift.
    state = np.random.SeedSequence(seed).generate_state(n, dtype=np.uint32)
    return (state & 0x7FFFFFFF).astype(np.int64)


def first_image_seed(seed: int) -> int:
    """The shift seed :func:`evaluate_robustness` gives the dataset's first image."""
    return int(_image_seeds(seed, 1)[0])


def evaluate_robustness(
    model: ModelLike,
    dataset: Any,
    *,
    kinds: Sequence[str] | str | None = None,
    severities: Sequence[int] = (1, 2, 3, 4, 5),
    seed: int = 0,
    batch_size: int = 32,
    progress: bool = False,
    workers: int | None = None,
) -> RobustnessReport:
    """Run a model on a dataset and on every shifted copy of it, and measure each.

    Every image is shifted by every kind of the catalogue (:func:`list_shifts`) at every
    severity, passed through the model's stored input transform (if any) and letterboxed to
    the model's input exactly as training and ``evaluate`` do, and predicted. The report
    holds clean metrics, accuracy and COVID sensitivity/specificity per kind and severity, the
    mean corruption accuracy and the relative drop.

    Args:
        model: A ``keras.Model`` taking raw ``[0, 255]`` RGB batches, an
            :class:`xraycls.Classifier`, or the path of a ``.keras`` file written by
            xraycls (:func:`xraycls.as_classifier`).
        dataset: An :class:`xraycls.data.Dataset` (files are decoded once; in-memory
            ``images`` are used as they are), or a dataset folder / CSV (loaded with the
            model's class names).
        kinds: Shift kinds (names or one comma-separated string); ``None`` for all.
        severities: Severities to measure, each 1..5.
        seed: Seed of the shifts; image ``i`` gets its own seed drawn from ``(seed, i)``.
        batch_size: Images per forward pass.
        progress: Show a progress bar (``keras.utils.Progbar``) over all predictions (default
            off, as everywhere in the library; the CLI shows one unless ``--quiet``).
        workers: Threads that shift and resize ahead of the model (default: CPU count, at
            most 4).

    Returns:
        The :class:`RobustnessReport`.

    Raises:
        ConfigError: Unknown kind, bad severities or batch size, an empty dataset, or class
            names that disagree with the model's.
        ImageReadError: A file of the dataset cannot be decoded (the path is in the message).

    Examples:
        >>> import xraycls  # doctest: +SKIP
        >>> from xraycls.robustness import evaluate_robustness  # doctest: +SKIP
        >>> test = xraycls.load_dataset("data/cxr3").split(seed=0)[2]  # doctest: +SKIP
        >>> rep = evaluate_robustness("runs/quick/simple_cnn/best.keras", test)  # doctest: +SKIP
        >>> print(rep.to_markdown())  # doctest: +SKIP
    """
    started = time.perf_counter()
    kind_list = check_kinds(kinds)
    severity_list = _check_severities(severities)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed: expected an int >= 0, got {seed!r}")
    pool_size = workers if workers is not None else min(4, os.cpu_count() or 1)
    if pool_size < 1:
        raise ConfigError(f"workers: expected an int >= 1, got {workers}")
    clf = as_classifier(model)
    label = os.fspath(model) if isinstance(model, (str, os.PathLike)) else clf.model.name
    dataset = _dataset(dataset, clf.class_names if knows_class_names(model) else None)
    clf = as_classifier(clf if knows_class_names(model) else model, class_names=dataset.class_names)
    n = len(dataset.files)
    class_names = clf.class_names
    conditions: list[tuple[str | None, int]] = [(None, 0)] + [
        (k, s) for k in kind_list for s in severity_list
    ]
    seeds = _image_seeds(int(seed), n)
    with ThreadPoolExecutor(max_workers=pool_size) as pool:
        originals = list(pool.map(lambda i: _load_one(dataset, i), range(n)))

    def prepare(t: int) -> np.ndarray:
        # The shift first, then the stored input transform and the letterbox (prepare), as
        # a new hospital's image would meet them.
        kind, severity = conditions[t // n]
        image = originals[t % n]
        if kind is not None:
            image = apply_shift(image, kind, severity, seed=int(seeds[t % n]))
        return clf.prepare(image)

    parts = clf.predict_batches(
        list(range(n * len(conditions))),
        prepare=prepare,
        batch_size=batch_size,
        workers=pool_size,
        progress=progress,
    )
    predicted = np.concatenate([part.labels for part in parts])
    labels = np.asarray(dataset.labels, dtype=np.int64)
    per_condition = predicted.reshape(len(conditions), n)
    clean = shift_metrics(labels, per_condition[0], class_names)
    corruptions: dict[str, ShiftResult] = {}
    row = 1
    for kind in kind_list:
        measured = []
        for _ in severity_list:
            measured.append(shift_metrics(labels, per_condition[row], class_names))
            row += 1
        corruptions[kind] = ShiftResult(
            severities=list(severity_list),
            accuracy=[m["accuracy"] for m in measured],
            covid_sensitivity=[m["covid_sensitivity"] for m in measured],
            covid_specificity=[m["covid_specificity"] for m in measured],
            sensitivity={c: [m["sensitivity"][c] for m in measured] for c in class_names},
        )
    return RobustnessReport(
        class_names=class_names,
        n=n,
        seed=int(seed),
        clean=clean,
        corruptions=corruptions,
        model=label,
        seconds=time.perf_counter() - started,
    )
