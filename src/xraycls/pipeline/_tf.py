"""The TensorFlow seam of the input pipeline: :class:`ImageBatches` fed through ``tf.data``.

This is the only module of :mod:`xraycls.pipeline` that imports TensorFlow. It makes no batch
of its own: :func:`make_tf_dataset` is :func:`tf_dataset_from_batches` over
:func:`xraycls.pipeline.make_py_dataset`, so ``tf.data`` yields exactly the batches the
backend-neutral pipeline yields (same read and fit, same ``(seed, epoch, batch)`` order and
augmentation, same cache).

Design (measured on the 2-core CI machine, see ``docs/pipeline.md``):

* Batch ``i`` is made by one ``tf.numpy_function`` call in a parallel, order-keeping ``map``
  over batch indices. Keras's own adapter for a ``PyDataset`` goes through
  ``tf.data.Dataset.from_generator``, which measured twice the time per training step.
* Files are decoded by :func:`xraycls.io.load_image` (OpenCV releases the GIL; TF's own
  ``decode_image`` was not faster here), so training sees exactly the pixels inference sees
  and every decode error carries its path.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from xraycls.errors import ConfigError
from xraycls.pipeline._pydataset import _default_workers, make_py_dataset

__all__ = ["make_tf_dataset", "tf_dataset_from_batches"]


def make_tf_dataset(
    files: Sequence[str | os.PathLike[str]],
    labels: Sequence[int] | np.ndarray,
    num_classes: int,
    *,
    batch_size: int,
    image_size: int | tuple[int, int],
    augmenter: Any = None,
    preprocess: Callable[[tf.Tensor], tf.Tensor] | None = None,
    shuffle: bool = False,
    seed: int | None = 0,
    resize: str = "pad",
    images: Sequence[np.ndarray | None] | None = None,
    drop_remainder: bool = False,
    cache: bool = False,
    repeat: bool = False,
    input_transform: Any = None,
    epoch: int = 0,
    workers: int | None = None,
    sample_weights: Sequence[float] | np.ndarray | None = None,
) -> tf.data.Dataset:
    """The batches of :func:`xraycls.pipeline.make_py_dataset` as a ``tf.data.Dataset``.

    Every iteration over the dataset (every ``fit`` epoch) is the next epoch of the
    :class:`~xraycls.pipeline.ImageBatches` behind it, starting at ``epoch``: a new order
    (with ``shuffle``) and new augmentations, each a pure function of ``(seed, epoch, batch
    index)``. So iteration ``e`` yields the batches ``make_py_dataset(...)`` yields in epoch
    ``e``, and a fresh dataset with the same arguments yields the same stream.

    The arguments mean what they mean for :func:`~xraycls.pipeline.make_py_dataset` (same
    checks, same errors), except:

    Args:
        files: Image paths.
        labels: One class index per file.
        num_classes: Width of the one-hot labels.
        batch_size: Images per batch.
        image_size: Output size, ``int`` for square or ``(height, width)``.
        augmenter: Optional batch augmenter.
        preprocess: Optional callable applied to each ``float32`` batch as a ``tf.Tensor``
            (for example a backbone's preprocessing). Models built by xraycls already contain
            theirs, so leave ``None``.
        shuffle: Shuffle the whole dataset, again in every epoch.
        seed: Seed of the order and the augmentation (``None``: a fresh random seed). The
            output order is always deterministic.
        resize: ``"pad"``, ``"stretch"`` or ``"crop"``.
        images: Optional in-memory images aligned with ``files``.
        drop_remainder: Drop the last partial batch of every epoch.
        cache: Keep decoded, resized images in memory after their first use (costs
            ``n * H * W * 3`` bytes), so later epochs skip decoding.
        repeat: Run epoch after epoch in one iteration, forever (then pass
            ``steps_per_epoch`` to ``fit``); every epoch ends with its own last batch.
        input_transform: Optional :class:`xraycls.transforms.InputTransform` (or its dict).
        epoch: The first iteration's epoch number.
        workers: Batches made at once (default: one per CPU core, at most 8).
        sample_weights: Per-image sampling weights of a shuffled epoch.

    Returns:
        The dataset of ``(float32 images, float32 one-hot labels)`` batches, prefetched.

    Raises:
        ConfigError: Inconsistent arguments (lengths, label range, sizes, resize mode).
            While iterating, an unreadable image stops iteration with a TensorFlow error whose
            message contains ``ImageReadError: <path>: <reason>``.

    Examples:
        >>> import os, tempfile, cv2, numpy as np
        >>> from xraycls.pipeline import make_tf_dataset
        >>> folder = tempfile.mkdtemp()
        >>> files = [os.path.join(folder, f"{i}.png") for i in range(3)]
        >>> for i, f in enumerate(files):
        ...     _ = cv2.imwrite(f, np.full((40, 30), 50 * i, np.uint8))
        >>> ds = make_tf_dataset(files, [0, 1, 1], 2, batch_size=2, image_size=32)
        >>> [tuple(x.shape) for x, y in ds]
        [(2, 32, 32, 3), (1, 32, 32, 3)]
        >>> x, y = next(iter(ds))
        >>> float(x[1, 16, 16, 0]), y.numpy().tolist()
        (50.0, [[1.0, 0.0], [0.0, 1.0]])
    """
    if workers is None:
        workers = _default_workers()
    batches = make_py_dataset(
        files,
        labels,
        num_classes,
        batch_size=batch_size,
        image_size=image_size,
        augmenter=augmenter,
        shuffle=shuffle,
        seed=seed,
        resize=resize,
        images=images,
        input_transform=input_transform,
        drop_remainder=drop_remainder,
        cache=cache,
        epoch=epoch,
        workers=workers,
        sample_weights=sample_weights,
    )
    ds = tf_dataset_from_batches(batches, workers, new_epochs=True, repeat=repeat)
    if preprocess is not None:
        ds = ds.map(lambda x, y: (preprocess(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds


def tf_dataset_from_batches(
    batches: Any,
    workers: int | None = None,
    *,
    new_epochs: bool = False,
    repeat: bool = False,
) -> tf.data.Dataset:
    """Feed a batch-indexed ``keras.utils.PyDataset`` to TensorFlow through ``tf.data``.

    Batch ``i`` is ``batches[i]``, made in a parallel, order-keeping ``map`` over
    ``range(len(batches))`` and prefetched. Keras's own adapter for a ``PyDataset`` under
    TensorFlow goes through ``tf.data.Dataset.from_generator``, which measured twice the time per
    training step of the same batches given this way (``benchmarks/pipeline.py``: 0.49 s against
    0.25 s per step of ``quick``'s model on 2 cores); the trainer uses this on TensorFlow.

    A new iterator (one per ``fit`` epoch) calls ``batches[i]`` afresh, so an object whose
    batches depend on its current epoch (:class:`xraycls.pipeline.ImageBatches`, moved by the
    trainer's epoch callback) gives each epoch its own order and augmentation.

    Args:
        batches: Anything with ``len()`` and ``[i] -> (float32 images, float32 labels)``.
        workers: Batches made at once (default: the object's ``workers``, else 2).
        new_epochs: Each new iterator is the next epoch of ``batches`` (an
            :class:`~xraycls.pipeline.ImageBatches`; from its current :attr:`epoch` on), made
            by :meth:`~xraycls.pipeline.ImageBatches.batch`; the object's own epoch is not
            moved. Without it the batches are those of the object's current epoch.
        repeat: One iterator runs epoch after epoch forever (implies ``new_epochs``).

    Returns:
        A ``tf.data.Dataset`` of the same ``(images, labels)`` batches, in order.

    Raises:
        ConfigError: ``new_epochs`` or ``repeat`` for an object without ``batch(epoch,
            index)`` and ``epoch``.

    Examples:
        >>> import numpy as np
        >>> class Two:
        ...     def __len__(self): return 2
        ...     def __getitem__(self, i):
        ...         return np.full((1, 4, 4, 3), i, "float32"), np.eye(2, dtype="float32")[[i]]
        >>> [float(x[0, 0, 0, 0]) for x, _ in tf_dataset_from_batches(Two())]
        [0.0, 1.0]
    """
    shapes = getattr(batches, "shapes", None)
    if shapes is None:  # not known without making a batch
        x0, y0 = batches[0]
        shapes = ((None, *np.shape(x0)[1:]), (None, *np.shape(y0)[1:]))
    parallel = int(workers or getattr(batches, "workers", 0) or 2)
    n = len(batches)

    def get(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = batches[int(index)]
        return np.asarray(x, np.float32), np.asarray(y, np.float32)

    def get_of_epoch(epoch: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = batches.batch(int(epoch), int(index))
        return np.asarray(x, np.float32), np.asarray(y, np.float32)

    def finish(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x.set_shape(shapes[0])
        y.set_shape(shapes[1])
        return x, y

    if new_epochs or repeat:
        if not (callable(getattr(batches, "batch", None)) and hasattr(batches, "epoch")):
            raise ConfigError(
                "new_epochs/repeat: expected an ImageBatches (with batch(epoch, index) and "
                f"epoch), got {type(batches).__name__}"
            )
        counter = itertools.count(int(batches.epoch))

        def next_epoch() -> np.int64:
            return np.int64(next(counter))

        # One element per epoch, drawn when an iterator reaches it: a new iterator (or the
        # next repetition) takes the next epoch number, in order.
        ds = tf.data.Dataset.range(1)
        if repeat:
            ds = ds.repeat()
        ds = ds.map(lambda _: tf.numpy_function(next_epoch, [], tf.int64, stateful=True))
        ds = ds.flat_map(lambda e: tf.data.Dataset.range(n).map(lambda i: (e, i)))
        ds = ds.map(
            lambda e, i: finish(
                *tf.numpy_function(get_of_epoch, [e, i], (tf.float32, tf.float32), stateful=False)
            ),
            num_parallel_calls=parallel,
            deterministic=True,
        )
    else:
        ds = tf.data.Dataset.range(n).map(
            lambda i: finish(*tf.numpy_function(get, [i], (tf.float32, tf.float32), stateful=True)),
            num_parallel_calls=parallel,
            deterministic=True,
        )
    options = tf.data.Options()
    options.deterministic = True
    return ds.with_options(options).prefetch(2)
