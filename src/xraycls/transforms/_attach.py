"""Which ``InputTransform`` belongs to a loaded or trained model object.

The transform lives in the model file (``xraycls.json``); once a model is in memory it is
remembered here, keyed weakly by the model, so ``evaluate``, ``Classifier`` and ``cam`` can look
it up from the model alone. A weak map rather than an attribute: Keras tracks attributes set on
a model, and the transform must never leak into the saved Keras config.
"""

from __future__ import annotations

import weakref
from typing import Any

from xraycls.transforms._input import InputTransform, as_transform

__all__ = ["attach_transform", "transform_of"]

_BY_MODEL: weakref.WeakKeyDictionary[Any, InputTransform] = weakref.WeakKeyDictionary()


def attach_transform(model: Any, transform: Any) -> Any:
    """Remember ``transform`` (an ``InputTransform``, its dict, or ``None``) for ``model``.

    Returns:
        ``model``, for chaining.

    Examples:
        >>> import keras
        >>> from xraycls.transforms import InputTransform, attach_transform, transform_of
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        >>> _ = attach_transform(model, {"contrast": "clahe"})
        >>> transform_of(model).contrast
        'clahe'
    """
    _BY_MODEL[model] = as_transform(transform)
    return model


def transform_of(model: Any) -> InputTransform:
    """The transform attached to ``model`` (also through a ``Classifier``), else the identity."""
    own = getattr(model, "input_transform", None)
    if isinstance(own, InputTransform):
        return own
    try:
        return _BY_MODEL.get(model, InputTransform())
    except TypeError:  # not weak-referenceable (e.g. a plain function): nothing attached
        return InputTransform()
