"""The one prediction loop (:meth:`xraycls.Classifier.predict_batches`).

Preparing an image (decode, input transform, letterbox) costs more than the model call on a
CPU, so a small thread pool prepares up to two batches ahead while the model runs. On JAX a
smaller last batch is padded with zero images (their rows dropped), so one compiled program
serves every batch. Test-time augmentation and Grad-CAM are options of the same call.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from xraycls.errors import ConfigError

__all__ = ["PredictionBatch", "dataset_items", "run_loop", "tta_views"]


@dataclass(frozen=True)
class PredictionBatch:
    """What one model call of :meth:`xraycls.Classifier.predict_batches` gave.

    Attributes:
        start: Position of the batch's first item in the input.
        items: The batch's items (for ready ``batches``: their payload, e.g. the labels).
        images: The prepared images the model saw, ``float32 (n, H, W, 3)`` (items that could
            not be prepared left out).
        probabilities: ``(n, C)`` float64, calibrated unless asked otherwise (TTA: the mean
            over the views).
        spread: With TTA, the largest standard deviation of a class probability across the
            views, per image; else ``None``.
        cam: With ``explain``, the Grad-CAM ``(n, H, W)`` of the predicted class; else
            ``None``.
        errors: Per item of ``items``, the exception that stopped its preparation (with
            ``errors="keep"``), else ``None``; rows of the arrays above follow the items
            without one.
    """

    start: int
    items: Sequence[Any]
    images: np.ndarray
    probabilities: np.ndarray
    spread: np.ndarray | None = None
    cam: np.ndarray | None = None
    errors: Sequence[BaseException | None] = ()

    @property
    def labels(self) -> np.ndarray:
        """The most probable class index per predicted image."""
        return np.asarray(self.probabilities.argmax(axis=1))


def dataset_items(dataset: Any) -> list[Any]:
    """The images of an xraycls ``Dataset`` as loop items: an in-memory array where it holds
    one, else the file (read by :meth:`xraycls.Classifier.prepare` as training reads it)."""
    images = dataset.images
    files = list(dataset.files)
    if images is None:
        return files
    return [f if a is None else a for a, f in zip(images, files, strict=True)]


def tta_views(batch: np.ndarray) -> list[np.ndarray]:
    """The batch, its mirror image, and 10 % zoomed in and out (same size, zero padding)."""
    import cv2

    n, h, w, _ = batch.shape
    views = [batch, batch[:, :, ::-1, :]]
    for scale in (1.1, 1 / 1.1):
        sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
        out = np.zeros_like(batch)
        for i in range(n):
            img = cv2.resize(batch[i], (sw, sh), interpolation=cv2.INTER_AREA)
            if scale > 1:  # zoom in: centre crop
                y, x = (sh - h) // 2, (sw - w) // 2
                out[i] = img[y : y + h, x : x + w]
            else:  # zoom out: centre on black, like the letterbox padding
                y, x = (h - sh) // 2, (w - sw) // 2
                out[i, y : y + sh, x : x + sw] = img
        views.append(out)
    return views


class _Handle(Protocol):
    """What the loop uses of a :class:`xraycls.Classifier` (which imports this module)."""

    model: Any

    @property
    def class_names(self) -> list[str]: ...

    @property
    def calibration(self) -> Any: ...


_Prepared = tuple[int, Sequence[Any], np.ndarray, list[BaseException | None]]


def _prefetched(
    items: Sequence[Any],
    prepare: Callable[[Any], np.ndarray],
    batch_size: int,
    workers: int,
    keep_errors: bool,
) -> Iterator[_Prepared]:
    """``(start, items, images, errors)`` per batch; preparing runs up to two batches ahead."""

    def one(item: Any) -> np.ndarray | BaseException:
        try:
            return np.asarray(prepare(item), np.float32)
        except Exception as exc:  # kept, or re-raised in order by the consumer
            return exc

    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[np.ndarray | BaseException]] = deque()
        it = iter(items)
        position = 0

        def fill() -> None:
            while len(pending) < 2 * batch_size:
                item = next(it, _END)
                if item is _END:
                    return
                pending.append(pool.submit(one, item))

        fill()
        while pending:
            chunk = [pending.popleft() for _ in range(min(batch_size, len(pending)))]
            fill()  # keep the pool busy while the model runs on this chunk
            results = [f.result() for f in chunk]
            errors: list[BaseException | None] = []
            good = []
            for r in results:
                if isinstance(r, BaseException):
                    if not keep_errors:
                        raise r
                    errors.append(r)
                else:
                    errors.append(None)
                    good.append(r)
            images = np.stack(good) if good else np.zeros((0, 0, 0, 3), np.float32)
            yield position, items[position : position + len(chunk)], images, errors
            position += len(chunk)


_END = object()


def _ready(batches: Iterable[Any]) -> Iterator[_Prepared]:
    position = 0
    for element in batches:
        if isinstance(element, (tuple, list)) and element:
            images, payload = element[0], (element[1] if len(element) > 1 else None)
        else:
            images, payload = element, None
        images = np.asarray(images, np.float32)
        n = len(images)
        items = [None] * n if payload is None else payload
        yield position, items, images, [None] * n
        position += n


def _forward(model: Any, images: np.ndarray, rows: int | None) -> np.ndarray:
    """One model call; on JAX a smaller batch is padded to ``rows`` (one compiled program)."""
    n = len(images)
    if rows is not None and n < rows:
        pad = np.zeros((rows - n, *images.shape[1:]), images.dtype)
        images = np.concatenate([images, pad])
    return np.asarray(model.predict_on_batch(images), np.float64)[:n]


def _check(batch_size: int, workers: int | None, errors: str, given: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise ConfigError(f"batch_size: expected an int >= 1, got {batch_size!r}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1; got {batch_size}")
    if errors not in ("raise", "keep"):
        raise ConfigError(f"errors={errors!r}: expected 'raise' or 'keep'")
    if given != 1:
        raise ConfigError("predict_batches: give exactly one of items and batches")
    pool = workers if workers is not None else min(4, os.cpu_count() or 1)
    if isinstance(pool, bool) or not isinstance(pool, (int, np.integer)) or pool < 1:
        raise ConfigError(f"workers: expected an int >= 1, got {workers!r}")
    return int(pool)


def run_loop(
    clf: _Handle,
    items: Sequence[Any] | None,
    *,
    batches: Iterable[Any] | None,
    prepare: Callable[[Any], np.ndarray],
    batch_size: int,
    tta: bool,
    explain: str | None,
    calibrated: bool,
    errors: str,
    workers: int | None,
    progress: bool,
) -> Iterator[PredictionBatch]:
    """:meth:`Classifier.predict_batches` (arguments checked before the first item)."""
    pool = _check(batch_size, workers, errors, (items is not None) + (batches is not None))
    source = (
        _prefetched(items, prepare, batch_size, pool, errors == "keep")
        if items is not None
        else _ready(batches if batches is not None else [])
    )
    total = len(items) if items is not None else None
    return _run(clf, source, batch_size, tta, explain, calibrated, progress, total)


def _run(
    clf: _Handle,
    source: Iterator[_Prepared],
    batch_size: int,
    tta: bool,
    explain: str | None,
    calibrated: bool,
    progress: bool,
    total: int | None,
) -> Iterator[PredictionBatch]:
    import keras

    # JAX compiles one program per batch shape: pad every smaller batch to the first one's size
    # (batch_size for items, the first ready batch's size otherwise).
    pad = keras.backend.backend() == "jax"
    rows: int | None = batch_size if total is not None else None
    bar = keras.utils.Progbar(total, unit_name="image") if progress else None
    for start, chunk, images, errs in source:
        if rows is None:
            rows = len(images)
        yield _predict(
            clf, start, chunk, images, errs, rows if pad else None, tta, explain, calibrated
        )
        if bar is not None:
            bar.add(len(chunk))


def _predict(
    clf: _Handle,
    start: int,
    chunk: Sequence[Any],
    images: np.ndarray,
    errs: list[BaseException | None],
    rows: int | None,
    tta: bool,
    explain: str | None,
    calibrated: bool,
) -> PredictionBatch:
    n = len(images)
    width = len(clf.class_names)
    if n == 0:
        empty = np.zeros((0, width), np.float64)
        return PredictionBatch(start, chunk, images, empty, None, None, errs)

    def scaled(raw: np.ndarray) -> np.ndarray:
        if not calibrated or clf.calibration is None:
            return raw
        return np.asarray(clf.calibration.probabilities(raw), np.float64)

    spread = None
    if tta:
        views = tta_views(images)
        raw = _forward(clf.model, np.concatenate(views), None if rows is None else rows * 4)
        per_view = np.stack([scaled(raw[i * n : (i + 1) * n]) for i in range(len(views))])
        probs = per_view.mean(axis=0)
        spread = per_view.std(axis=0).max(axis=1)
    else:
        probs = scaled(_forward(clf.model, images, rows))
    heat = None
    if explain is not None:
        from xraycls.explain import cam

        top = probs.argmax(axis=1)
        heat = np.asarray(cam(clf.model, images, class_index=top, method=explain))
    return PredictionBatch(start, chunk, images, probs, spread, heat, errs)
