"""xraycls: train, evaluate and explain CNN classifiers for chest X-rays.

The public API is re-exported here. Heavy modules (TensorFlow, Keras) are imported lazily on
first use of a name, so ``import xraycls`` and ``xraycls --help`` stay fast.

Examples:
    >>> import xraycls
    >>> "xception" in xraycls.list_models()
    True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from xraycls._about import __version__
from xraycls._keras_backend import choose_backend as _choose_backend
from xraycls.errors import (
    ConfigError,
    DatasetLayoutError,
    DependencyError,
    ImageReadError,
    ModelFileError,
    PluginError,
    TrainingError,
    UnknownModelError,
    WeightsError,
    XrayclsError,
)

# Before anything imports Keras: with TensorFlow absent, use the JAX or PyTorch that is there.
_choose_backend()

# name -> module that defines it; resolved on first attribute access (PEP 562).
_LAZY: dict[str, str] = {
    # zoo
    "BackboneSpec": "xraycls.zoo",
    "build_model": "xraycls.zoo",
    "get_backbone": "xraycls.zoo",
    "list_models": "xraycls.zoo",
    "register_backbone": "xraycls.zoo",
    "save_model": "xraycls.zoo",
    "load_model": "xraycls.zoo",
    "load_model_info": "xraycls.zoo",
    "read_model_info": "xraycls.zoo",  # deprecated: load_model_info
    "ModelInfo": "xraycls.zoo",
    # io + data
    "load_image": "xraycls.io",
    "decode_image": "xraycls.io",
    "read_image": "xraycls.io",  # deprecated: load_image
    "Dataset": "xraycls.data",
    "LoadReport": "xraycls.data",
    "DatasetDescription": "xraycls.data",
    "load_dataset": "xraycls.data",
    "find_duplicates": "xraycls.data",
    "DataSpec": "xraycls.data",
    "LabelMap": "xraycls.data",
    "load_sources": "xraycls.data",
    "merge": "xraycls.data",
    # augment
    "Augmenter": "xraycls.augment",
    "balance": "xraycls.augment",
    # train
    "TrainConfig": "xraycls.train",
    "Trainer": "xraycls.train",
    # evaluate
    "EvaluationReport": "xraycls.evaluation",
    "evaluate": "xraycls.evaluation",
    "compute_metrics": "xraycls.evaluation",
    # inference
    "Classifier": "xraycls.classifier",
    "ImagePrediction": "xraycls.classifier",
    "PredictionBatch": "xraycls.classifier",
    "as_classifier": "xraycls.classifier",
    # calibrated decisions, batch inference, export
    "Calibration": "xraycls.calibration",
    "calibrate": "xraycls.calibration",
    "predict_files": "xraycls.batch",
    "export_model": "xraycls.export",
    "update_model_info": "xraycls.zoo",
    # explain
    "cam": "xraycls.explain",
    "overlay": "xraycls.explain",
    "find_target_layer": "xraycls.explain",
    # report
    "report": "xraycls.reporting",
    # shortcut audit
    "audit": "xraycls.auditing",
    "AuditReport": "xraycls.auditing",
    # protocols
    "Profile": "xraycls.protocols",
    "reproduce": "xraycls.protocols",
    # lung field + input mitigations
    "segment_lungs": "xraycls.lungs",
    "InputTransform": "xraycls.transforms",
    # robustness
    "RobustnessReport": "xraycls.robustness",
    "evaluate_robustness": "xraycls.robustness",
}

__all__ = [
    "AuditReport",
    "Augmenter",
    "BackboneSpec",
    "Calibration",
    "Classifier",
    "ConfigError",
    "DataSpec",
    "Dataset",
    "DatasetDescription",
    "DatasetLayoutError",
    "DependencyError",
    "EvaluationReport",
    "ImagePrediction",
    "ImageReadError",
    "InputTransform",
    "LabelMap",
    "LoadReport",
    "ModelFileError",
    "ModelInfo",
    "PluginError",
    "PredictionBatch",
    "Profile",
    "RobustnessReport",
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "UnknownModelError",
    "WeightsError",
    "XrayclsError",
    "__version__",
    "as_classifier",
    "audit",
    "balance",
    "build_model",
    "calibrate",
    "cam",
    "compute_metrics",
    "decode_image",
    "evaluate",
    "evaluate_robustness",
    "export_model",
    "find_duplicates",
    "find_target_layer",
    "get_backbone",
    "list_models",
    "load_dataset",
    "load_image",
    "load_model",
    "load_model_info",
    "load_sources",
    "merge",
    "overlay",
    "predict_files",
    "read_image",
    "read_model_info",
    "register_backbone",
    "report",
    "reproduce",
    "save_model",
    "segment_lungs",
    "update_model_info",
]


# Subpackages reachable as attributes (``xraycls.explain.load_images``) without an import.
_SUBPACKAGES = frozenset(
    {"augment", "cli", "data", "evaluation", "explain", "io", "predict", "protocols", "reporting"}
    | {"train", "zoo"}
    | {"lungs", "transforms"}
    | {"imaging"}
    | {"robustness"}
    | {"batch", "calibration", "export", "serve"}
    | {"classifier", "decision"}
    | {"pipeline"}
    | {"auditing"}
)


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"xraycls.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'xraycls' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from xraycls.auditing import AuditReport, audit
    from xraycls.augment import Augmenter, balance
    from xraycls.batch import predict_files
    from xraycls.calibration import Calibration, calibrate
    from xraycls.classifier import Classifier, ImagePrediction, PredictionBatch, as_classifier
    from xraycls.data import (
        Dataset,
        DatasetDescription,
        DataSpec,
        LabelMap,
        LoadReport,
        find_duplicates,
        load_dataset,
        load_sources,
        merge,
    )
    from xraycls.evaluation import EvaluationReport, compute_metrics, evaluate
    from xraycls.explain import cam, find_target_layer, overlay
    from xraycls.export import export_model
    from xraycls.io import decode_image, load_image, read_image
    from xraycls.lungs import segment_lungs
    from xraycls.protocols import Profile, reproduce
    from xraycls.reporting import report
    from xraycls.robustness import RobustnessReport, evaluate_robustness
    from xraycls.train import TrainConfig, Trainer
    from xraycls.transforms import InputTransform
    from xraycls.zoo import (
        BackboneSpec,
        ModelInfo,
        build_model,
        get_backbone,
        list_models,
        load_model,
        load_model_info,
        read_model_info,
        register_backbone,
        save_model,
        update_model_info,
    )
