"""The tf.data input pipeline: decode, resize, cache, shuffle, batch, augment, prefetch.

This is the only module of :mod:`xraycls.data` that imports TensorFlow.

Design (measured on the 2-core CI machine, see ``docs/pipeline.md``):

* Files are decoded by :func:`xraycls.io.read_image` inside ``tf.numpy_function``, one call per
  batch of indices, in a parallel ``map``. TF's own ``decode_image`` was not faster here (both
  ~1000 img/s per core at 256 px; OpenCV releases the GIL), and going through ``read_image``
  means training sees exactly the pixels inference sees (16-bit min-max scaling, alpha on black,
  DICOM), and every decode error carries its path.
* Resizing happens right after decoding, in the same call, through
  :func:`xraycls.imaging.load_fitted` -- the one read-and-fit function that prediction,
  evaluation and CAM use too -- so everything downstream moves small fixed-size ``uint8``
  images.
* Augmentation runs on whole batches (one imgaug call per batch) in a parallel ``map``. Each
  batch gets its own seed from ``tf.data.Dataset.random(seed, rerandomize_each_iteration=True)``,
  so results are reproducible and still differ from epoch to epoch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from xraycls.data._batching import BatchMaker, as_augmenter, check_inputs, image_size_of
from xraycls.errors import ConfigError

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
) -> tf.data.Dataset:
    """Build a ``tf.data.Dataset`` of ``(images, one_hot_labels)`` batches.

    Images come out as ``float32`` NHWC RGB in ``[0, 255]`` (or ``preprocess(images)``), labels
    as ``float32`` one-hot ``(N, num_classes)``. With ``shuffle=False`` the order of ``files``
    is kept and the last partial batch is yielded (unless ``drop_remainder``), which is what
    inference and evaluation need.

    Args:
        files: Image paths (PNG, JPEG, BMP, TIFF, WebP, DICOM: anything
            :func:`xraycls.io.read_image` reads).
        labels: One class index per file.
        num_classes: Width of the one-hot labels.
        batch_size: Images per batch.
        image_size: Output size, ``int`` for square or ``(height, width)``.
        augmenter: Optional :class:`xraycls.augment.Augmenter` (or a bare imgaug augmenter,
            wrapped with ``seed``) applied to every batch on the fly. Each batch uses a per-call
            seed drawn from ``seed``, different in every epoch.
        preprocess: Optional callable applied to the ``float32`` batch (for example a backbone's
            preprocessing). Models built by xraycls already contain theirs, so leave ``None``.
        shuffle: Shuffle the whole dataset, again in every epoch.
        seed: Seed for shuffling and augmentation. An int makes the stream reproducible (tf.data
            runs deterministically); ``None`` gives a fresh random order every time and lets
            tf.data trade order for speed.
        resize: ``"pad"`` (default) keeps the aspect ratio and pads with black (letterbox, no
            distortion of the anatomy); ``"stretch"`` resizes each axis independently;
            ``"crop"`` takes the largest centred crop with the target aspect ratio.
        images: Optional in-memory images aligned with ``files``: each entry is a ``uint8``
            ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` array used instead of reading the file,
            or ``None`` to read the file (as ``Dataset.images`` after ``balance``).
        drop_remainder: Drop the last partial batch (for training with a fixed batch shape).
        cache: Keep the decoded, resized images in memory after the first pass, so later
            epochs skip decoding (costs ``n * H * W * 3`` bytes).
        repeat: Repeat forever (then pass ``steps_per_epoch`` to ``fit``).
        input_transform: An :class:`xraycls.transforms.InputTransform` (or its dict) applied to
            every image as read, before resizing (and before caching), as the model it feeds
            was trained with; ``None`` for none.

    Returns:
        The dataset, prefetched with ``tf.data.AUTOTUNE``.

    Raises:
        ConfigError: Inconsistent arguments (lengths, label range, sizes, resize mode).
            While iterating, an unreadable image stops iteration with a TensorFlow error whose
            message contains ``ImageReadError: <path>: <reason>``.

    Examples:
        >>> import os, tempfile, cv2, numpy as np
        >>> from xraycls.data import make_tf_dataset
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
    paths, label_arr = check_inputs(files, labels, num_classes, batch_size, resize, images)
    height, width = image_size_of(image_size)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ConfigError(f"seed: expected an int or None, got {seed!r}")
    maker = BatchMaker(
        paths,
        height,
        width,
        resize,
        images=images,
        augmenter=None if augmenter is None else as_augmenter(augmenter, seed),
        input_transform=input_transform,
    )
    n = len(paths)

    def load_tf(indices: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        # One Python call per batch, not per image: the per-call cost of tf.numpy_function
        # (GIL, conversions) was ~25% of the decode time per image on the 2-core CI machine.
        batch = tf.numpy_function(maker.load_batch, [indices], tf.uint8, stateful=False)
        batch.set_shape((None, height, width, 3))
        return batch, indices

    deterministic = seed is not None
    ds = tf.data.Dataset.range(n)
    if cache:
        # Decode once in file order and cache the small images; shuffle after the cache.
        ds = ds.batch(batch_size).map(
            load_tf, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
        ds = ds.cache().unbatch()
        if shuffle:
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    else:
        # Shuffle the indices (cheap, a full buffer), batch them, then decode each batch.
        if shuffle:
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        ds = ds.map(load_tf, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)

    label_table = tf.constant(label_arr)
    depth = int(num_classes)

    if maker.augmenter is not None:

        def augment_tf(
            batch: tf.Tensor, index: tf.Tensor, batch_seed: tf.Tensor
        ) -> tuple[tf.Tensor, tf.Tensor]:
            out = tf.numpy_function(maker.augment, [batch, batch_seed], tf.uint8, stateful=False)
            out.set_shape(batch.shape)
            return out, index

        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip((ds, seeds)).map(
            lambda pair, s: augment_tf(pair[0], pair[1], s),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=deterministic,
        )

    def finish(batch: tf.Tensor, index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x = tf.cast(batch, tf.float32)
        if preprocess is not None:
            x = preprocess(x)
        y = tf.one_hot(tf.gather(label_table, index), depth, dtype=tf.float32)
        return x, y

    ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    options = tf.data.Options()
    options.deterministic = deterministic
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def tf_dataset_from_batches(batches: Any, workers: int | None = None) -> tf.data.Dataset:
    """Feed a batch-indexed ``keras.utils.PyDataset`` to TensorFlow through ``tf.data``.

    Batch ``i`` is ``batches[i]``, made in a parallel, order-keeping ``map`` over
    ``range(len(batches))`` and prefetched. Keras's own adapter for a ``PyDataset`` under
    TensorFlow goes through ``tf.data.Dataset.from_generator``, which measured twice the time per
    training step of the same batches given this way (``benchmarks/pipeline.py``: 0.49 s against
    0.25 s per step of ``quick``'s model on 2 cores); the trainer uses this on TensorFlow.

    A new iterator (one per ``fit`` epoch) calls ``batches[i]`` afresh, so an object whose
    batches depend on its current epoch (:class:`xraycls.data.ImageBatches`) gives each epoch
    its own order and augmentation.

    Args:
        batches: Anything with ``len()`` and ``[i] -> (float32 images, float32 labels)``.
        workers: Batches made at once (default: the object's ``workers``, else 2).

    Returns:
        A ``tf.data.Dataset`` of the same ``(images, labels)`` batches, in order.

    Examples:
        >>> import numpy as np
        >>> class Two:
        ...     def __len__(self): return 2
        ...     def __getitem__(self, i):
        ...         return np.full((1, 4, 4, 3), i, "float32"), np.eye(2, dtype="float32")[[i]]
        >>> [float(x[0, 0, 0, 0]) for x, _ in tf_dataset_from_batches(Two())]
        [0.0, 1.0]
    """
    x0, y0 = batches[0]
    x_shape = (None, *np.shape(x0)[1:])
    y_shape = (None, *np.shape(y0)[1:])
    parallel = int(workers or getattr(batches, "workers", 0) or 2)

    def get(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = batches[int(index)]
        return np.asarray(x, np.float32), np.asarray(y, np.float32)

    def load(index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x, y = tf.numpy_function(get, [index], (tf.float32, tf.float32), stateful=True)
        x.set_shape(x_shape)
        y.set_shape(y_shape)
        return x, y

    ds = tf.data.Dataset.range(len(batches))
    ds = ds.map(load, num_parallel_calls=parallel, deterministic=True)
    options = tf.data.Options()
    options.deterministic = True
    return ds.with_options(options).prefetch(2)
