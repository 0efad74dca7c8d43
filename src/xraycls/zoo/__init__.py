"""The model zoo: backbones, the paper's head, weights, plugins and the model file format.

Examples:
    >>> import xraycls.zoo as zoo
    >>> "resnet50" in zoo.list_models()
    True
    >>> model = zoo.build_model("simple_cnn", num_classes=3, input_shape=(32, 32, 3), width=4)
    >>> model.get_layer("preprocess").mode
    'tf'
"""

from xraycls.zoo import families as _families  # noqa: F401  (registers the built-ins)
from xraycls.zoo._factory import build_model
from xraycls.zoo._info import SCHEMA_VERSION, ModelHandle, ModelInfo, info_of
from xraycls.zoo._preprocess import Preprocess
from xraycls.zoo._registry import (
    BackboneSpec,
    PluginWarning,
    get_backbone,
    list_models,
    register_backbone,
)
from xraycls.zoo._saving import (
    load_model,
    load_model_info,
    read_model_info,
    save_model,
    update_model_info,
)

__all__ = [
    "SCHEMA_VERSION",
    "BackboneSpec",
    "ModelHandle",
    "ModelInfo",
    "PluginWarning",
    "Preprocess",
    "build_model",
    "get_backbone",
    "info_of",
    "list_models",
    "load_model",
    "load_model_info",
    "read_model_info",
    "register_backbone",
    "save_model",
    "update_model_info",
]
