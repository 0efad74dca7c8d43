"""Backend-neutral batch making: argument checks, read + fit, seeded batch augmentation.

:class:`~xraycls.pipeline.ImageBatches` turns indices into batches with :class:`BatchMaker`
(files) or :class:`ArrayMaker` (arrays used as given), under every backend and, through
``tf.data``, under TensorFlow. Images are read and fitted by
:func:`xraycls.imaging.load_fitted`, the function inference uses. Nothing here imports a
deep-learning framework.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from xraycls.errors import ConfigError
from xraycls.imaging import RESIZE_MODES, as_image, load_fitted
from xraycls.transforms import as_transform

__all__ = ["ArrayMaker", "BatchMaker", "as_augmenter", "check_inputs", "image_size_of"]


def image_size_of(image_size: Any) -> tuple[int, int]:
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        size = (int(image_size), int(image_size))
    else:
        try:
            h, w = image_size
            size = (int(h), int(w))
        except (TypeError, ValueError):
            raise ConfigError(
                f"image_size: expected an int or (height, width), got {image_size!r}"
            ) from None
    if min(size) < 1:
        raise ConfigError(f"image_size: height and width must be >= 1, got {size}")
    return size


def check_inputs(
    files: Sequence[Any],
    labels: Any,
    num_classes: int,
    batch_size: int,
    resize: str,
    images: Sequence[Any] | None,
) -> tuple[list[str], np.ndarray]:
    paths = [os.fspath(f) for f in files]
    if not paths:
        raise ConfigError("files: the dataset is empty; nothing to feed the model")
    label_arr = np.asarray(labels)
    if label_arr.shape != (len(paths),):
        raise ConfigError(
            f"labels: expected one label per file ({len(paths)}), got shape {label_arr.shape}"
        )
    if not np.issubdtype(label_arr.dtype, np.integer):
        raise ConfigError(f"labels: expected integer class indices, got dtype {label_arr.dtype}")
    if (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, (int, np.integer))
        or (num_classes < 1)
    ):
        raise ConfigError(f"num_classes: expected an int >= 1, got {num_classes!r}")
    if label_arr.min() < 0 or label_arr.max() >= num_classes:
        raise ConfigError(
            f"labels: class indices must be in [0, {num_classes}), got "
            f"{int(label_arr.min())}..{int(label_arr.max())}"
        )
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or (batch_size < 1)
    ):
        raise ConfigError(f"batch_size: expected an int >= 1, got {batch_size!r}")
    if resize not in RESIZE_MODES:
        raise ConfigError(f"resize: expected one of {RESIZE_MODES}, got {resize!r}")
    if images is not None and len(images) != len(paths):
        raise ConfigError(
            f"images: expected one entry (array or None) per file ({len(paths)}), got {len(images)}"
        )
    return paths, label_arr.astype(np.int64)


class _SeededImgaug:
    """Per-call seeded wrapper for a bare imgaug augmenter (``pipeline`` may not import
    ``augment``)."""

    def __init__(self, augmenter: Any, seed: int) -> None:
        self._template = augmenter.deepcopy()
        self._seed = seed

    def __call__(self, batch: np.ndarray, *, seed: int) -> np.ndarray:
        local = self._template.deepcopy()
        local.seed_(int(np.random.SeedSequence([self._seed, seed]).generate_state(1)[0]))
        return np.asarray(local.augment_images(batch))


def as_augmenter(augmenter: Any, seed: int | None) -> Callable[..., np.ndarray]:
    import imgaug.augmenters as iaa

    if isinstance(augmenter, iaa.Augmenter):
        return _SeededImgaug(augmenter, seed or 0)
    if callable(augmenter):
        # xraycls.augment.Augmenter, or anything called as augmenter(uint8 NHWC, seed=int).
        return augmenter
    raise ConfigError(
        f"augmenter: expected an xraycls Augmenter, an imgaug augmenter or a callable "
        f"f(uint8 NHWC batch, seed=int) -> batch, got {type(augmenter).__name__}"
    )


class BatchMaker:
    """Turns dataset indices into ``uint8`` ``(n, height, width, 3)`` batches, then augments them.

    Args:
        paths: Image paths, checked by :func:`check_inputs`.
        height: Output height.
        width: Output width.
        resize: ``"pad"``, ``"stretch"`` or ``"crop"`` (see :func:`xraycls.imaging.fit_image`).
        images: Optional in-memory ``uint8`` images aligned with ``paths`` (``None`` entries
            are read from their file).
        augmenter: Optional batch augmenter, already wrapped by :func:`as_augmenter`.
        input_transform: Optional :class:`xraycls.transforms.InputTransform` (or its dict).
    """

    def __init__(
        self,
        paths: Sequence[str],
        height: int,
        width: int,
        resize: str,
        images: Sequence[np.ndarray | None] | None = None,
        augmenter: Callable[..., np.ndarray] | None = None,
        input_transform: Any = None,
    ) -> None:
        self.paths = list(paths)
        self.height, self.width, self.resize = height, width, resize
        self.memory = list(images) if images is not None else None
        self.augmenter = augmenter
        self.transform = as_transform(input_transform)

    def load(self, index: int) -> np.ndarray:
        """One image, read (or taken from memory) and fitted to the output size."""
        i = int(index)
        name = f"images[{i}] ({self.paths[i]})"
        source: str | np.ndarray = self.paths[i]
        if self.memory is not None and self.memory[i] is not None:
            # Training images in memory come from augmentation/balancing as uint8; anything
            # else (floats in [0, 1]...) is a mistake that clipping would hide.
            source = as_image(np.asarray(self.memory[i]), name, channels=(1, 3, 4))
        return load_fitted(
            source, self.height, self.width, self.resize, name=name, transform=self.transform
        )[0]

    def load_batch(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Images ``indices``, stacked."""
        return np.stack([self.load(i) for i in indices])

    def augment(self, batch: np.ndarray, seed: int) -> np.ndarray:
        """The batch augmented with ``seed`` (unchanged without an augmenter)."""
        if self.augmenter is None:
            return batch
        out = np.asarray(self.augmenter(batch, seed=int(seed) & 0x7FFFFFFF))
        if out.shape != batch.shape or out.dtype != np.uint8:
            raise ConfigError(
                f"augmenter: returned {out.shape} {out.dtype} for a {batch.shape} uint8 "
                "batch; it must keep shape and dtype"
            )
        return out


class ArrayMaker:
    """In-memory images used as given (any dtype, no resizing, no augmentation): the
    :class:`BatchMaker` of arrays a user hands to ``fit``."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = images

    def load(self, index: int) -> np.ndarray:
        """Image ``index`` as stored."""
        return np.asarray(self.images[int(index)])

    def load_batch(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Images ``indices``, stacked."""
        return np.asarray(self.images[np.asarray(indices, dtype=np.int64)])

    def augment(self, batch: np.ndarray, seed: int) -> np.ndarray:
        """``batch`` unchanged: arrays are used as given."""
        return batch
