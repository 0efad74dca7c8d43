"""Training input for one ``model.fit`` call: batches that depend only on ``(seed, epoch)``.

A ``keras.utils.PyDataset`` (backend-neutral: TensorFlow, JAX and PyTorch read it alike) whose
epoch is set by a callback before Keras starts reading the epoch. Batch ``i`` of epoch ``e`` is
a pure function of ``(seed, e, i)``: the file order is a permutation seeded by ``(seed, e)`` and
the augmentation of each batch is seeded by ``(seed, e, i)``. So one ``fit`` spans all epochs
with fresh shuffling and augmentation in every epoch, and a run resumed at epoch ``e`` (``fit``'s
``initial_epoch``) sees exactly the batches an uninterrupted run would.

Examples:
    >>> import numpy as np
    >>> from xraycls.train._input import EpochData
    >>> x, y = np.zeros((5, 4, 4, 3), "float32"), np.eye(2, dtype="float32")[[0, 1, 0, 1, 0]]
    >>> data = EpochData.from_arrays(x, y, batch_size=2, seed=0, shuffle=True)
    >>> len(data), data[2][0].shape
    (3, (1, 4, 4, 3))
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from typing_extensions import Self, override

from xraycls.imaging import load_fitted

__all__ = ["EpochData", "SetEpoch", "epoch_seed"]


def epoch_seed(seed: int, epoch: int) -> int:
    """A distinct, reproducible seed per epoch (within int32).

    Examples:
        >>> epoch_seed(0, 0) != epoch_seed(0, 1)
        True
    """
    return (seed * 1_000_003 + epoch * 7919 + 17) % (2**31 - 1)


class EpochData(keras.utils.PyDataset):
    """``(images float32 [0, 255], one-hot labels)`` batches of the current epoch.

    Args:
        load: ``load(index) -> image`` (``uint8`` for files, any float for arrays).
        targets: One-hot labels, ``(N, C)``.
        batch_size: Images per batch (the last batch may be smaller).
        seed: The run's seed.
        shuffle: A new seeded order every epoch; else the given order.
        augmenter: ``augmenter(uint8 batch, seed=int) -> batch`` or ``None``.
        workers: Threads reading batches ahead of training.
    """

    def __init__(
        self,
        load: Callable[[int], np.ndarray],
        targets: np.ndarray,
        *,
        batch_size: int,
        seed: int,
        shuffle: bool,
        augmenter: Callable[..., np.ndarray] | None = None,
        workers: int = 1,
    ) -> None:
        # Threads, not processes: decoding (OpenCV) and imgaug release the GIL for the heavy
        # parts, and the epoch set by SetEpoch must be visible to the readers.
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=8)
        self._load = load
        self._targets = np.asarray(targets, dtype="float32")
        self._batch_size = int(batch_size)
        self._seed = int(seed)
        self._shuffle = shuffle
        self._augmenter = augmenter
        self._order: np.ndarray = np.arange(len(self._targets))
        self.epoch = -1
        self.set_epoch(0)

    @classmethod
    def from_arrays(
        cls, x: np.ndarray, y: np.ndarray, *, batch_size: int, seed: int, shuffle: bool
    ) -> Self:
        """Batches of in-memory images (no augmentation: arrays are used as given)."""
        images = np.asarray(x, dtype="float32")
        return cls(lambda i: images[i], y, batch_size=batch_size, seed=seed, shuffle=shuffle)

    @classmethod
    def from_dataset(
        cls,
        dataset: Any,
        num_classes: int,
        image_size: tuple[int, int],
        *,
        batch_size: int,
        seed: int,
        shuffle: bool,
        augmenter: Callable[..., np.ndarray] | None = None,
        resize: str = "pad",
        workers: int | None = None,
        transform: Any = None,
    ) -> Self:
        """Batches of an :class:`xraycls.data.Dataset`: files (or its in-memory images) read
        and fitted by :func:`xraycls.imaging.load_fitted`, the function inference uses, after
        the model's input ``transform`` (an :class:`xraycls.transforms.InputTransform`)."""
        files = [os.fspath(f) for f in dataset.files]
        memory = getattr(dataset, "images", None)
        height, width = image_size

        def load(i: int) -> np.ndarray:
            source: str | np.ndarray = files[i]
            if memory is not None and memory[i] is not None:
                source = np.asarray(memory[i])
            name = f"images[{i}] ({files[i]})"
            return load_fitted(source, height, width, resize, name=name, transform=transform)[0]

        targets = np.eye(num_classes, dtype="float32")[np.asarray(dataset.labels, dtype=int)]
        if workers is None:
            workers = min(4, os.cpu_count() or 1)
        return cls(
            load,
            targets,
            batch_size=batch_size,
            seed=seed,
            shuffle=shuffle,
            augmenter=augmenter,
            workers=workers,
        )

    def set_epoch(self, epoch: int) -> None:
        """Fix the order (and augmentation seeds) of ``epoch``'s batches."""
        if epoch == self.epoch:
            return
        self.epoch = epoch
        n = len(self._targets)
        rng = np.random.default_rng(epoch_seed(self._seed, epoch))
        self._order = rng.permutation(n) if self._shuffle else np.arange(n)

    def __len__(self) -> int:
        return math.ceil(len(self._targets) / self._batch_size)

    @override
    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self._order[index * self._batch_size : (index + 1) * self._batch_size]
        batch = np.stack([self._load(int(i)) for i in rows])
        if self._augmenter is not None:
            seed = int(
                np.random.SeedSequence([epoch_seed(self._seed, self.epoch), index]).generate_state(
                    1
                )[0]
            )
            batch = self._augmenter(batch, seed=seed & 0x7FFFFFFF)
        return batch.astype("float32", copy=False), self._targets[rows]

    def plain(self, batches: int) -> list[np.ndarray]:
        """The first ``batches`` image batches of this epoch's order, not augmented (what the
        model sees at inference), for re-estimating BatchNorm statistics."""
        out = []
        for index in range(min(batches, len(self))):
            rows = self._order[index * self._batch_size : (index + 1) * self._batch_size]
            out.append(np.stack([self._load(int(i)) for i in rows]).astype("float32"))
        return out


class SetEpoch(keras.callbacks.Callback):
    """Tells an :class:`EpochData` which epoch starts (Keras calls callbacks' ``on_epoch_begin``
    before it starts reading the epoch's batches)."""

    def __init__(self, data: EpochData) -> None:
        super().__init__()
        self.data = data

    @override
    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.data.set_epoch(epoch)
