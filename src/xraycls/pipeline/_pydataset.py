"""The input pipeline: :class:`ImageBatches`, a ``keras.utils.PyDataset`` with worker threads.

``model.fit``/``evaluate``/``predict`` accept it under every Keras backend (TensorFlow, JAX,
PyTorch). It is the one place batches are made, for training and inference alike: under
TensorFlow the same object is fed through ``tf.data`` by index
(:func:`xraycls.pipeline.tf_dataset_from_batches`; :func:`xraycls.pipeline.make_tf_dataset` is
that over :func:`make_py_dataset`). Images are read and fitted by
:class:`~xraycls.pipeline._batching.BatchMaker` with :func:`xraycls.imaging.load_fitted`, the
function inference uses, then augmented a batch at a time.

Design:

* One ``__getitem__`` call makes one batch (decode + resize + augment in NumPy/OpenCV, which
  release the GIL), and ``workers`` threads make the next batches ahead of the model.
* Order and augmentation depend only on ``(seed, epoch, batch index)``, never on which worker
  ran first: the permutation of epoch ``e`` is drawn from ``SeedSequence([seed, e])`` and batch
  ``b``'s augmentation seed from ``SeedSequence([seed, e, b])`` (:meth:`ImageBatches.batch`).
  Keras calls :meth:`ImageBatches.on_epoch_end` after every epoch, which moves to the next
  epoch, so one ``fit`` call sees a new order and new augmentations every epoch; with
  :meth:`ImageBatches.epoch_callback` the epoch is fit's own epoch index (exact resume).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import keras
import numpy as np

from xraycls.errors import ConfigError
from xraycls.pipeline._batching import (
    ArrayMaker,
    BatchMaker,
    as_augmenter,
    check_inputs,
    image_size_of,
)

__all__ = ["ImageBatches", "array_batches", "make_py_dataset"]


def _default_workers() -> int:
    # Decoding and augmenting release the GIL for most of their time; one thread per core.
    return max(1, min(8, os.cpu_count() or 1))


class ImageBatches(keras.utils.PyDataset):
    """``(float32 NHWC images in [0, 255], float32 one-hot labels)`` batches for ``model.fit``.

    Build it with :func:`make_py_dataset` (which checks the arguments). Batch ``i`` of epoch
    ``e`` is a pure function of ``(seed, e, i)``, however many threads make batches ahead.
    """

    def __init__(
        self,
        maker: BatchMaker | ArrayMaker,
        labels: np.ndarray,
        num_classes: int,
        *,
        batch_size: int,
        preprocess: Callable[[np.ndarray], Any] | None = None,
        shuffle: bool = False,
        seed: int = 0,
        drop_remainder: bool = False,
        cache: bool = False,
        epoch: int = 0,
        workers: int = 1,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
        sample_weights: np.ndarray | None = None,
        pad_remainder: bool = False,
    ) -> None:
        # Threads are this object's own (see __getitem__): Keras's enqueuer would replay the
        # batches its workers prefetched before a stop (fit's build peek, every epoch end) at
        # the start of the next epoch, so a resumed run would not see the batches an
        # uninterrupted one saw. Keras gets workers=1 (no enqueuer) unless processes are asked.
        super().__init__(
            workers=workers if use_multiprocessing else 1,
            use_multiprocessing=use_multiprocessing,
            max_queue_size=max_queue_size,
        )
        self.threads = 1 if use_multiprocessing else int(workers)
        self._ahead: dict[tuple[int, int], Future[tuple[Any, ...]]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._maker = maker
        self._onehot = np.eye(num_classes, dtype=np.float32)[labels]
        self._batch_size = batch_size
        self._preprocess = preprocess
        self._shuffle = shuffle
        self._seed = seed
        self._drop_remainder = drop_remainder
        self._pad_remainder = pad_remainder and not drop_remainder
        self._cache: dict[int, np.ndarray] | None = {} if cache else None
        self._weights = _check_weights(sample_weights, len(labels))
        self._state = (int(epoch), self._order_of(epoch))
        # The order of the last other epoch asked for by batch() (tf.data's epochs).
        self._other: tuple[int, np.ndarray] = self._state

    def _order_of(self, epoch: int) -> np.ndarray:
        n = len(self._onehot)
        if not self._shuffle:
            return np.arange(n)
        rng = np.random.default_rng(np.random.SeedSequence([self._seed, epoch]))
        if self._weights is None:
            return rng.permutation(n)
        # Weighted sampling: an epoch is n draws with replacement, so a group's share of the
        # batches follows its weight, not its size (class x source balancing, group DRO).
        return rng.choice(n, size=n, replace=True, p=self._weights)

    @property
    def sample_weights(self) -> np.ndarray | None:
        """Per-image sampling probabilities of a shuffled epoch (``None``: a permutation)."""
        return self._weights

    def set_sample_weights(self, weights: np.ndarray | None) -> None:
        """Sample the next epochs (from :meth:`set_epoch` on) with these per-image weights."""
        self._weights = _check_weights(weights, len(self._onehot))

    @property
    def epoch(self) -> int:
        """The epoch whose order and augmentation the next ``__getitem__`` calls use."""
        return self._state[0]

    @property
    def _order(self) -> np.ndarray:
        return self._state[1]

    def __len__(self) -> int:
        n, size = len(self._onehot), self._batch_size
        return n // size if self._drop_remainder else -(-n // size)

    def _images(self, indices: np.ndarray) -> np.ndarray:
        if self._cache is None:
            return self._maker.load_batch(indices)
        # Decoded, resized images are small and never change: keep each after its first use.
        # dict reads and writes are atomic, and two workers decoding one image agree.
        missing = [int(i) for i in indices if int(i) not in self._cache]
        for i in missing:
            self._cache[i] = self._maker.load(i)
        return np.stack([self._cache[int(i)] for i in indices])

    @property
    def pad_remainder(self) -> bool:
        """Whether batches are ``(x, y, sample_weight)`` with the last one padded to the full
        batch size by zero-weight rows (one compiled program for every batch on JAX)."""
        return self._pad_remainder

    @property
    def size(self) -> int:
        """The number of images (without padding rows)."""
        return len(self._onehot)

    @property
    def padding(self) -> int:
        """Zero-weight rows added to the last batch of an epoch (``pad_remainder``)."""
        return len(self) * self._batch_size - self.size if self._pad_remainder else 0

    @property
    def shapes(self) -> tuple[tuple[int | None, ...], tuple[int | None, ...]] | None:
        """``(images, labels)`` batch shapes with ``None`` for the batch size, known without
        making a batch; ``None`` when ``preprocess`` or ``pad_remainder`` may change them."""
        if self._preprocess is not None or self._pad_remainder:
            return None
        if isinstance(self._maker, BatchMaker):
            image: tuple[int, ...] = (self._maker.height, self._maker.width, 3)
        else:
            image = tuple(np.shape(self._maker.images)[1:])
        return (None, *image), (None, self._onehot.shape[1])

    def batch(self, epoch: int, index: int) -> tuple[Any, ...]:
        """Batch ``index`` of ``epoch``, made now in the calling thread: a pure function of
        ``(seed, epoch, index)`` whatever the current :attr:`epoch` (thread-safe)."""
        current, order = self._state
        if epoch != current:
            other, order = self._other
            if other != epoch:
                order = self._order_of(epoch)
                self._other = (epoch, order)
        rows = order[index * self._batch_size : (index + 1) * self._batch_size]
        batch = self._images(rows)
        seed = int(np.random.SeedSequence([self._seed, epoch, index]).generate_state(1)[0])
        x = self._maker.augment(batch, seed).astype(np.float32)
        if self._preprocess is not None:
            x = self._preprocess(x)
        if self._pad_remainder:
            return _padded(x, self._onehot[rows], self._batch_size)
        return x, self._onehot[rows]

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range: there are {len(self)} batches")
        epoch = self._state[0]
        if self.threads <= 1:
            return self.batch(epoch, index)
        # Make the next batches of this epoch in the background while the model trains; what
        # was made ahead for another epoch (or an earlier batch) is dropped, never served.
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="xraycls-batches")
            for key in [k for k in self._ahead if k[0] != epoch or k[1] < index]:
                self._ahead.pop(key).cancel()
            future = self._ahead.pop((epoch, index), None)
            if future is None:
                future = self._pool.submit(self.batch, epoch, index)
            depth = max(self.threads, self.max_queue_size)
            for ahead in range(index + 1, min(len(self), index + 1 + depth)):
                if (epoch, ahead) not in self._ahead:
                    self._ahead[(epoch, ahead)] = self._pool.submit(self.batch, epoch, ahead)
        return future.result()

    def plain(self, batches: int) -> list[np.ndarray]:
        """The first ``batches`` image batches of the current epoch's order, not augmented
        (what the model sees at inference): the trainer re-estimates BatchNorm statistics
        from them."""
        out = []
        for index in range(min(batches, len(self))):
            rows = self._order[index * self._batch_size : (index + 1) * self._batch_size]
            x = self._images(rows).astype(np.float32)
            out.append(x if self._preprocess is None else self._preprocess(x))
        return out

    def images_at(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """The images at dataset positions ``rows`` as the model sees them at inference
        (unaugmented, preprocessed): the trainer's group DRO probe."""
        x = self._images(np.asarray(rows, dtype=np.int64)).astype(np.float32)
        return x if self._preprocess is None else self._preprocess(x)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        """The batches in order, made ``workers`` at a time (for loops outside ``fit``)."""
        for index in range(len(self)):
            yield self[index]

    def on_epoch_end(self) -> None:
        """Move to the next epoch: a new order (when shuffling) and new augmentations."""
        self.set_epoch(self.epoch + 1)

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s order and augmentation from the next batch on."""
        self._state = (int(epoch), self._order_of(int(epoch)))

    def epoch_callback(self) -> keras.callbacks.Callback:
        """A callback for ``model.fit`` that keeps :attr:`epoch` equal to fit's epoch index.

        Keras also calls :meth:`on_epoch_end` when ``fit`` starts (after peeking at a batch to
        build the model, on JAX and PyTorch), so counting calls drifts by one per ``fit``
        call. With this callback the batches of epoch ``e`` depend only on ``(seed, e)``,
        which is what makes a resumed run (``initial_epoch=e``) see the batches an
        uninterrupted run saw. :class:`xraycls.Trainer` adds it.
        """
        return _EpochSync(self)


def _padded(x: Any, y: np.ndarray, size: int) -> tuple[Any, np.ndarray, np.ndarray]:
    """``(x, y, weights)`` with zero-image, zero-label, zero-weight rows appended up to
    ``size`` rows: a weighted loss or metric is the one of the real rows."""
    n = len(y)
    weights = np.zeros(size, np.float32)
    weights[:n] = 1.0
    if n < size:
        x = np.asarray(x)
        x = np.concatenate([x, np.zeros((size - n, *x.shape[1:]), x.dtype)])
        y = np.concatenate([y, np.zeros((size - n, *y.shape[1:]), y.dtype)])
    return x, y, weights


def _check_weights(weights: np.ndarray | None, n: int) -> np.ndarray | None:
    """``weights`` normalised to sum 1, after checking their shape and values."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ConfigError(
            f"sample_weights: expected {n} finite, non-negative weights with a positive sum, "
            f"got shape {w.shape}"
        )
    return w / w.sum()


class _EpochSync(keras.callbacks.Callback):
    """Sets an :class:`ImageBatches`' epoch at the start of every ``fit`` epoch."""

    def __init__(self, batches: ImageBatches) -> None:
        super().__init__()
        self._batches = batches

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        # Runs before Keras starts the epoch's worker threads, so no batch of the epoch is
        # made with the previous epoch's order.
        self._batches.set_epoch(epoch)


def make_py_dataset(
    files: Sequence[str | os.PathLike[str]],
    labels: Sequence[int] | np.ndarray,
    num_classes: int,
    *,
    batch_size: int,
    image_size: int | tuple[int, int],
    augmenter: Any = None,
    preprocess: Callable[[np.ndarray], Any] | None = None,
    shuffle: bool = False,
    seed: int | None = 0,
    resize: str = "pad",
    images: Sequence[np.ndarray | None] | None = None,
    input_transform: Any = None,
    drop_remainder: bool = False,
    cache: bool = False,
    epoch: int = 0,
    workers: int | None = None,
    use_multiprocessing: bool = False,
    max_queue_size: int = 10,
    sample_weights: Sequence[float] | np.ndarray | None = None,
    pad_remainder: bool = False,
) -> ImageBatches:
    """Build an :class:`ImageBatches` ``PyDataset``: the one input pipeline's batches.

    :func:`xraycls.pipeline.make_tf_dataset` yields the same batches through ``tf.data``.

    Images come out as ``float32`` NHWC RGB in ``[0, 255]`` (or ``preprocess(images)``),
    labels as ``float32`` one-hot ``(N, num_classes)``. With ``shuffle=False`` the order of
    ``files`` is kept and the last partial batch is yielded (unless ``drop_remainder``), which
    is what inference and evaluation need.

    Args:
        files: Image paths (PNG, JPEG, BMP, TIFF, WebP, DICOM: anything
            :func:`xraycls.io.load_image` reads).
        labels: One class index per file.
        num_classes: Width of the one-hot labels.
        batch_size: Images per batch.
        image_size: Output size, ``int`` for square or ``(height, width)``.
        augmenter: Optional :class:`xraycls.augment.Augmenter`, a bare imgaug augmenter
            (wrapped with ``seed``) or a callable ``f(uint8 NHWC batch, seed=int)``, applied to
            every batch with a seed drawn from ``(seed, epoch, batch index)``.
        preprocess: Optional callable applied to each ``float32`` NumPy batch (for example a
            backbone's preprocessing). Models built by xraycls already contain theirs.
        shuffle: Shuffle the whole dataset, again in every epoch.
        seed: Seed of the order and the augmentation (``None``: a fresh random seed).
        resize: ``"pad"`` (default) keeps the aspect ratio and pads with black (letterbox);
            ``"stretch"`` resizes each axis independently; ``"crop"`` takes the largest
            centred crop with the target aspect ratio.
        images: Optional in-memory images aligned with ``files``: each entry a ``uint8``
            ``(H, W)`` or ``(H, W, 1|3|4)`` array used instead of reading the file, or ``None``
            to read the file (as ``Dataset.images`` after ``balance``).
        input_transform: Optional :class:`xraycls.transforms.InputTransform` (or its dict)
            applied to every image after it is read and before it is fitted.
        drop_remainder: Drop the last partial batch.
        cache: Keep decoded, resized images in memory after their first use.
        epoch: The first epoch's number (a resumed run starts at its next epoch, so it gets
            the order and augmentation an uninterrupted run would).
        workers: Threads making batches in parallel (default: one per CPU core, at most 8).
        use_multiprocessing: Processes instead of threads (the augmenter must pickle).
        max_queue_size: Batches made ahead of the model.
        sample_weights: With ``shuffle``, draw each epoch's ``len(files)`` images with
            replacement with these (relative) per-image weights instead of permuting them:
            :func:`xraycls.data._sampling.group_weights` makes weights that balance classes
            and sources.
        pad_remainder: Yield ``(images, labels, sample_weights)`` and pad the last batch to
            ``batch_size`` with zero images, zero labels and zero weights, so that every batch
            has one shape (JAX compiles a program per shape; weighted metrics and a weighted
            loss sum are those of the real images). Ignored with ``drop_remainder``.

    Returns:
        The ``PyDataset``; ``len()`` is the number of batches per epoch.

    Raises:
        ConfigError: Inconsistent arguments. While iterating, an unreadable image raises
            :class:`xraycls.errors.ImageReadError` naming the file.

    Examples:
        >>> import os, tempfile, cv2, numpy as np
        >>> from xraycls.pipeline import make_py_dataset
        >>> folder = tempfile.mkdtemp()
        >>> files = [os.path.join(folder, f"{i}.png") for i in range(3)]
        >>> for i, f in enumerate(files):
        ...     _ = cv2.imwrite(f, np.full((40, 30), 50 * i, np.uint8))
        >>> ds = make_py_dataset(files, [0, 1, 1], 2, batch_size=2, image_size=32)
        >>> [x.shape for x, y in (ds[0], ds[1])]
        [(2, 32, 32, 3), (1, 32, 32, 3)]
        >>> x, y = ds[0]
        >>> float(x[1, 16, 16, 0]), y.tolist()
        (50.0, [[1.0, 0.0], [0.0, 1.0]])
    """
    paths, label_arr = check_inputs(files, labels, num_classes, batch_size, resize, images)
    height, width = image_size_of(image_size)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed: expected an int or None, got {seed!r}")
    if workers is None:
        workers = _default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers: expected an int >= 1, got {workers!r}")
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise ConfigError(f"epoch: expected an int >= 0, got {epoch!r}")
    if drop_remainder and len(paths) < batch_size:
        raise ConfigError(
            f"drop_remainder: {len(paths)} files make no full batch of {batch_size}; lower "
            "batch_size or keep the remainder"
        )
    maker = BatchMaker(
        paths,
        height,
        width,
        resize,
        images=images,
        augmenter=None if augmenter is None else as_augmenter(augmenter, int(seed)),
        input_transform=input_transform,
    )
    return ImageBatches(
        maker,
        label_arr,
        int(num_classes),
        batch_size=int(batch_size),
        preprocess=preprocess,
        shuffle=shuffle,
        seed=int(seed),
        drop_remainder=drop_remainder,
        cache=cache,
        epoch=int(epoch),
        workers=workers,
        use_multiprocessing=use_multiprocessing,
        max_queue_size=max_queue_size,
        sample_weights=None if sample_weights is None else np.asarray(sample_weights),
        pad_remainder=pad_remainder,
    )


def array_batches(
    x: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    num_classes: int,
    *,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    epoch: int = 0,
    workers: int = 1,
    drop_remainder: bool = False,
    pad_remainder: bool = False,
) -> ImageBatches:
    """An :class:`ImageBatches` over in-memory images, used as given (any dtype, no resizing
    or augmentation): the same seeded order per ``(seed, epoch)`` as for files.

    Examples:
        >>> import numpy as np
        >>> ds = array_batches(np.zeros((5, 4, 4, 3)), [0, 1, 0, 1, 0], 2, batch_size=2)
        >>> len(ds), ds[2][0].shape, ds[2][0].dtype
        (3, (1, 4, 4, 3), dtype('float32'))
    """
    images = np.asarray(x)
    label_arr = np.asarray(labels)
    if images.ndim != 4 or len(images) != len(label_arr) or not len(images):
        raise ConfigError(
            f"x: expected a non-empty (N, height, width, channels) array with one label per "
            f"image, got shape {images.shape} and {len(label_arr)} label(s)"
        )
    return ImageBatches(
        ArrayMaker(images),
        label_arr.astype(np.int64),
        int(num_classes),
        batch_size=int(batch_size),
        shuffle=shuffle,
        seed=int(seed),
        epoch=int(epoch),
        workers=workers,
        drop_remainder=drop_remainder and len(images) >= batch_size,
        pad_remainder=pad_remainder,
    )
