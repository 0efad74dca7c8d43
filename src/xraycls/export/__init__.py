"""Export a trained model for other runtimes: TensorFlow SavedModel, ONNX and TFLite.

Each export carries a side-car ``xraycls.json`` with class names, input size, image
preparation and calibration, so a consumer needs nothing from xraycls to use it.

Examples:
    >>> from xraycls.export import FORMATS
    >>> sorted(FORMATS)
    ['onnx', 'savedmodel', 'tflite']
"""

from __future__ import annotations

from xraycls.export._export import (
    FORMATS,
    export_model,
    load_export_info,
    read_export_info,
    sidecar_path,
)

__all__ = ["FORMATS", "export_model", "load_export_info", "read_export_info", "sidecar_path"]
