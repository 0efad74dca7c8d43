"""``as_classifier``: the one way every entry point turns its ``model`` argument into a handle."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from xraycls.classifier._classifier import Classifier
from xraycls.errors import ConfigError

__all__ = ["ModelLike", "as_classifier", "knows_class_names"]

#: What an entry point's ``model`` argument may be: a model file, a handle, or a Keras model.
ModelLike = Classifier | str | os.PathLike[str] | Any


def as_classifier(
    model: ModelLike,
    *,
    class_names: Sequence[str] | None = None,
    safe_mode: bool = True,
) -> Classifier:
    """A :class:`Classifier` for a model file, a ``Classifier`` or a Keras model.

    A model file is loaded with :meth:`Classifier.load`; a Keras model loaded by
    :func:`xraycls.load_model` brings its stored :class:`xraycls.zoo.ModelInfo` (class names,
    input transform, calibration); one built or trained in this process brings the input
    transform the trainer attached. ``class_names`` fills in the names of a bare Keras model
    (default ``class_0``, ``class_1``...) and, for the others, must agree with the stored ones.

    Args:
        model: A ``.keras`` path, a :class:`Classifier` or a ``keras.Model``.
        class_names: The names the caller expects (from its data); checked against a stored
            list, used for a model without one.
        safe_mode: Keras safe mode for a model file.

    Returns:
        The handle (``model`` itself when it is one).

    Raises:
        ConfigError: ``model`` is none of the three, or its class names differ from
            ``class_names``.
        ModelFileError: The file is missing, corrupt or refused.

    Examples:
        >>> import keras
        >>> from xraycls import as_classifier
        >>> net = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
        ...                         keras.layers.Dense(2, activation="softmax")])
        >>> as_classifier(net).class_names
        ['class_0', 'class_1']
    """
    if isinstance(model, (str, os.PathLike)):
        clf = Classifier.load(model, safe_mode=safe_mode)
    elif isinstance(model, Classifier):
        clf = model
    else:
        import keras

        if not isinstance(model, keras.Model):
            raise ConfigError(
                f"model: expected a .keras path, an xraycls.Classifier or a keras.Model, got "
                f"{type(model).__name__}"
            )
        from xraycls.zoo import info_of

        info = info_of(model)
        if info is None:
            width = int(model.output_shape[-1])
            names = list(class_names or [f"class_{k}" for k in range(width)])
            if len(names) != width:
                raise ConfigError(
                    f"the model predicts {width} classes but {len(names)} class names were "
                    f"given ({names})"
                )
            return Classifier(model, names)
        clf = Classifier(model, info=info)
    if class_names is not None and list(class_names) != clf.class_names:
        raise ConfigError(
            f"the model's classes {clf.class_names} differ from the dataset's "
            f"{list(class_names)}; load the data with load_dataset(..., "
            f"classes={clf.class_names})"
        )
    return clf


def knows_class_names(model: ModelLike) -> bool:
    """Whether ``model`` brings its class names: a file, a :class:`Classifier`, or a Keras
    model loaded by :func:`xraycls.load_model` (a bare one gets the data's names).

    Examples:
        >>> knows_class_names("best.keras")
        True
    """
    if isinstance(model, (str, os.PathLike, Classifier)):
        return True
    from xraycls.zoo import info_of

    return info_of(model) is not None
