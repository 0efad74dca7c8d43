"""What a model object in memory carries: its ``ModelInfo``, or at least its ``InputTransform``.

The record lives in the model file (``xraycls.json``); once a model is in memory it is
remembered here, keyed weakly by the model, so ``evaluate``, ``Classifier`` and ``cam`` can look
it up from the model alone. A weak map rather than an attribute: Keras tracks attributes set on
a model, and the record must never leak into the saved Keras config.

This is the one such map. A model loaded by :func:`xraycls.load_model` carries its whole
:class:`xraycls.zoo.ModelInfo` (class names, transform, calibration...; the zoo stores it here
through :func:`attach_record`); a model the trainer or a user builds carries only its
transform (:func:`attach_transform`) until it is saved. The transforms layer sits below the
zoo, so it sees a record only as "something with an ``input_transform``".
"""

from __future__ import annotations

import dataclasses
import weakref
from typing import Any, Protocol, runtime_checkable

from xraycls.transforms._input import InputTransform, as_transform

__all__ = ["CarriesTransform", "attach_record", "attach_transform", "attached", "transform_of"]


@runtime_checkable
class CarriesTransform(Protocol):
    """A model's stored record as this layer sees it (:class:`xraycls.zoo.ModelInfo` is one)."""

    @property
    def input_transform(self) -> InputTransform: ...


_BY_MODEL: weakref.WeakKeyDictionary[Any, InputTransform | CarriesTransform] = (
    weakref.WeakKeyDictionary()
)


def attach_record(model: Any, record: CarriesTransform) -> Any:
    """Remember ``record`` (a :class:`xraycls.zoo.ModelInfo`) for ``model``; returns ``model``."""
    _BY_MODEL[model] = record
    return model


def attached(model: Any) -> InputTransform | CarriesTransform | None:
    """What :func:`attach_record` or :func:`attach_transform` remembered for ``model``."""
    try:
        return _BY_MODEL.get(model)
    except TypeError:  # not weak-referenceable (e.g. a plain function): nothing attached
        return None


def attach_transform(model: Any, transform: Any) -> Any:
    """Remember ``transform`` (an ``InputTransform``, its dict, or ``None``) for ``model``.

    A model that carries a whole record (loaded by :func:`xraycls.load_model`) keeps it, with
    the new transform in it.

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
    new = as_transform(transform)
    record = attached(model)
    if isinstance(record, InputTransform) or record is None:
        _BY_MODEL[model] = new
    else:  # a ModelInfo (a frozen dataclass): the same record with the new transform
        _BY_MODEL[model] = dataclasses.replace(record, input_transform=new)  # type: ignore[type-var]
    return model


def transform_of(model: Any) -> InputTransform:
    """The transform attached to ``model`` (also through a ``Classifier``), else the identity."""
    own = getattr(model, "input_transform", None)
    if isinstance(own, InputTransform):
        return own
    record = attached(model)
    if record is None:
        return InputTransform()
    return record if isinstance(record, InputTransform) else record.input_transform
