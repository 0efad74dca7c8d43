"""Choosing how the input pipeline's batches reach the model for the active Keras backend.

Under TensorFlow the batches go through ``tf.data`` (:func:`xraycls.pipeline.make_tf_dataset`,
the fastest path there); every other backend gets the ``keras.utils.PyDataset`` itself
(:func:`xraycls.pipeline.make_py_dataset`), which needs no TensorFlow. Both are the same
:class:`~xraycls.pipeline.ImageBatches`, so they yield the same batches.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from xraycls.errors import ConfigError

__all__ = ["PIPELINES", "make_batches", "resolve_pipeline"]

#: The input pipelines: ``"auto"`` picks one for the Keras backend.
PIPELINES: tuple[str, ...] = ("auto", "tf.data", "pydataset")


def resolve_pipeline(pipeline: str = "auto") -> str:
    """``"tf.data"`` or ``"pydataset"``: ``"auto"`` is ``"tf.data"`` on TensorFlow only.

    Raises:
        ConfigError: An unknown name, or ``"tf.data"`` without TensorFlow installed.

    Examples:
        >>> from xraycls.pipeline import resolve_pipeline
        >>> resolve_pipeline("pydataset")
        'pydataset'
    """
    if pipeline not in PIPELINES:
        raise ConfigError(f"pipeline: expected one of {PIPELINES}, got {pipeline!r}")
    if pipeline == "auto":
        import keras  # here, not at the top: loading and splitting data must not import Keras

        return "tf.data" if keras.backend.backend() == "tensorflow" else "pydataset"
    if pipeline == "tf.data":
        import importlib.util

        if importlib.util.find_spec("tensorflow") is None:
            raise ConfigError(
                "pipeline='tf.data' needs TensorFlow, which is not installed; use "
                "pipeline='pydataset' (or 'auto'), or pip install 'xraycls[tensorflow]'"
            )
    return pipeline


def make_batches(
    files: Sequence[str | os.PathLike[str]],
    labels: Sequence[int] | np.ndarray,
    num_classes: int,
    *,
    pipeline: str = "auto",
    **kwargs: Any,
) -> Any:
    """``(images, one-hot labels)`` batches for ``model.fit`` from the chosen pipeline.

    Args:
        files: Image paths.
        labels: One class index per file.
        num_classes: Width of the one-hot labels.
        pipeline: ``"auto"`` (``tf.data`` under TensorFlow, else ``PyDataset``),
            ``"tf.data"`` or ``"pydataset"``.
        **kwargs: Arguments of :func:`xraycls.pipeline.make_tf_dataset` /
            :func:`xraycls.pipeline.make_py_dataset` (``batch_size``, ``image_size``,
            ``augmenter``, ``shuffle``, ``seed``...).

    Returns:
        A ``tf.data.Dataset`` or an :class:`xraycls.pipeline.ImageBatches`.

    Examples:
        >>> import os, tempfile, cv2, numpy as np
        >>> from xraycls.pipeline import make_batches
        >>> folder = tempfile.mkdtemp()
        >>> files = [os.path.join(folder, f"{i}.png") for i in range(3)]
        >>> for f in files:
        ...     _ = cv2.imwrite(f, np.zeros((40, 30), np.uint8))
        >>> ds = make_batches(files, [0, 1, 1], 2, pipeline="pydataset", batch_size=2,
        ...                   image_size=32)
        >>> len(ds)
        2
    """
    if resolve_pipeline(pipeline) == "tf.data":
        from xraycls.pipeline._tf import make_tf_dataset

        return make_tf_dataset(files, labels, num_classes, **kwargs)
    from xraycls.pipeline._pydataset import make_py_dataset

    return make_py_dataset(files, labels, num_classes, **kwargs)
