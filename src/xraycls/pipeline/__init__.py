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
    >>> import os, tempfile, cv2, numpy as np
    >>> from xraycls.pipeline import make_batches
    >>> folder = tempfile.mkdtemp()
    >>> files = [os.path.join(folder, f"{i}.png") for i in range(3)]
    >>> for f in files:
    ...     _ = cv2.imwrite(f, np.zeros((40, 30), np.uint8))
    >>> batches = make_batches(files, [0, 1, 1], 2, pipeline="pydataset", batch_size=2,
    ...                        image_size=32)
    >>> [x.shape for x, y in batches]
    [(2, 32, 32, 3), (1, 32, 32, 3)]
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
