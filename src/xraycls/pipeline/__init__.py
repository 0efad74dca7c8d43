"""The one input pipeline: files (or arrays) and labels in, ``(images, one-hot labels)`` out.

Training and inference read images through the same code: :class:`ImageBatches` (a
``keras.utils.PyDataset`` that works under every Keras backend) makes each batch as a pure
function of ``(seed, epoch, batch index)`` with :func:`xraycls.imaging.load_fitted` and the
batch augmenter. Under TensorFlow the same batches are fed through ``tf.data``
(:func:`tf_dataset_from_batches`; :func:`make_tf_dataset` is that over
:func:`make_py_dataset`). The pipeline knows nothing of :class:`xraycls.data.Dataset`: it
takes files, labels and arrays, and ``Dataset.batches`` / ``Dataset.to_tf_dataset`` call it.

Importing this package imports neither Keras nor TensorFlow; the names that need them load on
first use.

Examples:
    >>> import numpy as np
    >>> from xraycls.pipeline import array_batches
    >>> x = np.arange(5, dtype=np.float32).reshape(5, 1, 1, 1)
    >>> batches = array_batches(x, [0, 1, 0, 1, 0], 2, batch_size=2, shuffle=True, seed=0)
    >>> [b[0].ravel().tolist() for b in batches]  # epoch 0, in its seeded order
    [[2.0, 4.0], [3.0, 0.0], [1.0]]
    >>> np.array_equal(batches.batch(1, 0)[0], batches.batch(1, 0)[0])  # pure in (epoch, index)
    True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from xraycls.pipeline._input import PIPELINES, make_batches, resolve_pipeline

__all__ = [
    "PIPELINES",
    "ImageBatches",
    "array_batches",
    "make_batches",
    "make_py_dataset",
    "make_tf_dataset",
    "resolve_pipeline",
    "tf_dataset_from_batches",
]

# Keras (``_pydataset``) and TensorFlow (``_tf``) load on first use, not on import.
_LAZY = {
    "ImageBatches": "xraycls.pipeline._pydataset",
    "array_batches": "xraycls.pipeline._pydataset",
    "make_py_dataset": "xraycls.pipeline._pydataset",
    "make_tf_dataset": "xraycls.pipeline._tf",
    "tf_dataset_from_batches": "xraycls.pipeline._tf",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'xraycls.pipeline' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


if TYPE_CHECKING:  # pragma: no cover
    from xraycls.pipeline._pydataset import ImageBatches, array_batches, make_py_dataset
    from xraycls.pipeline._tf import make_tf_dataset, tf_dataset_from_batches
