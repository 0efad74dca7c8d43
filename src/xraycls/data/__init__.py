"""Datasets: loading any common layout, leak-free splitting, duplicates.

The input pipeline lives in :mod:`xraycls.pipeline`; its names are re-exported here
(``make_tf_dataset``, ``make_py_dataset``, ``ImageBatches``, ``make_batches``...) so that
imports from ``xraycls.data`` keep working.

Examples:
    >>> import xraycls
    >>> ds = xraycls.load_dataset("../shared/data/cxr3")  # doctest: +SKIP
    >>> ds.counts()  # doctest: +SKIP
    {'COVID': 244, 'Normal': 403, 'Viral Pneumonia': 394}
    >>> train, val, test = ds.split(test=0.2, val=0.2, seed=0)  # doctest: +SKIP
    >>> clusters = xraycls.find_duplicates(ds)  # doctest: +SKIP
    >>> print(ds.describe().to_text())  # class x source table, confounding  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xraycls.data._classes import CANONICAL_ORDER, canonical_class
from xraycls.data._dataset import Dataset
from xraycls.data._describe import DatasetDescription
from xraycls.data._duplicates import Clusters, find_duplicates
from xraycls.data._labelmap import PRESETS, LabelMap, label_map_preset
from xraycls.data._load import load_dataset
from xraycls.data._merge import merge
from xraycls.data._report import LoadReport
from xraycls.data._spec import DataSpec, load_sources
from xraycls.data._split import check_split_classes
from xraycls.pipeline import PIPELINES, make_batches, resolve_pipeline

__all__ = [
    "CANONICAL_ORDER",
    "PIPELINES",
    "PRESETS",
    "Clusters",
    "DataSpec",
    "Dataset",
    "DatasetDescription",
    "ImageBatches",
    "LabelMap",
    "LoadReport",
    "canonical_class",
    "check_split_classes",
    "find_duplicates",
    "label_map_preset",
    "load_dataset",
    "load_sources",
    "make_batches",
    "make_py_dataset",
    "make_tf_dataset",
    "merge",
    "resolve_pipeline",
]


def __getattr__(name: str) -> Any:
    # The pipeline's Keras/TensorFlow parts load on first use: loading and splitting data
    # must not pay for them.
    if name in ("ImageBatches", "make_py_dataset", "make_tf_dataset"):
        import xraycls.pipeline

        return getattr(xraycls.pipeline, name)
    raise AttributeError(f"module 'xraycls.data' has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover
    from xraycls.pipeline._pydataset import ImageBatches, make_py_dataset
    from xraycls.pipeline._tf import make_tf_dataset
