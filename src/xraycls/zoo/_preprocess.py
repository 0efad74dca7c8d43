"""The ``Preprocess`` layer: a backbone's input preprocessing as a serialisable Keras layer.

Every xraycls model takes raw RGB pixel values in ``[0, 255]``; the backbone's own normalisation
is this layer, placed right after the model's ``Input``. It is written in ``keras.ops`` only (no
``Lambda``), so a saved model loads in Keras safe mode.

Examples:
    >>> import numpy as np
    >>> from xraycls.zoo import Preprocess
    >>> layer = Preprocess(mode="tf")
    >>> np.asarray(layer(np.full((1, 2, 2, 3), 255.0, dtype="float32")))[0, 0, 0].tolist()
    [1.0, 1.0, 1.0]
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from xraycls.errors import ConfigError

__all__ = ["PREPROCESSING_MODES", "Preprocess", "apply_preprocessing"]

#: The accepted values of ``mode`` (same meaning as ``keras.applications.imagenet_utils``).
PREPROCESSING_MODES: tuple[str, ...] = ("caffe", "tf", "torch", "none")

# ImageNet statistics, as keras.applications.imagenet_utils uses them.
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCH_MEAN_RGB = (0.485, 0.456, 0.406)
_TORCH_STD_RGB = (0.229, 0.224, 0.225)


def _check_mode(mode: str) -> str:
    if mode not in PREPROCESSING_MODES:
        raise ConfigError(
            f"preprocessing mode {mode!r} is not supported; expected one of "
            f"{', '.join(PREPROCESSING_MODES)}"
        )
    return mode


def apply_preprocessing(x: Any, mode: str) -> Any:
    """Apply a backbone's preprocessing to raw ``[0, 255]`` RGB values (channels last).

    Args:
        x: A float array or tensor, last axis = 3 RGB channels, values in ``[0, 255]``.
        mode: ``"caffe"`` (RGB->BGR, subtract the ImageNet mean), ``"tf"`` (scale to
            ``[-1, 1]``), ``"torch"`` (scale to ``[0, 1]``, then ImageNet mean/std) or
            ``"none"`` (identity).

    Returns:
        A backend tensor (``keras.ops``) of dtype float32 with the same shape.

    Raises:
        ConfigError: ``mode`` is unknown.

    Examples:
        >>> import numpy as np
        >>> y = apply_preprocessing(np.zeros((1, 1, 1, 3), "float32"), "caffe")
        >>> [round(float(v), 3) for v in np.asarray(y)[0, 0, 0]]
        [-103.939, -116.779, -123.68]
    """
    _check_mode(mode)
    x = ops.cast(ops.convert_to_tensor(x), "float32")
    if mode == "none":
        return x
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "torch":
        mean = ops.convert_to_tensor(_TORCH_MEAN_RGB, dtype="float32")
        std = ops.convert_to_tensor(_TORCH_STD_RGB, dtype="float32")
        return (x / 255.0 - mean) / std
    # caffe: the weights were trained on BGR images with the mean subtracted, no scaling.
    bgr = ops.flip(x, axis=-1)
    return bgr - ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype="float32")


@keras.saving.register_keras_serializable(package="xraycls")
class Preprocess(keras.layers.Layer):
    """Normalise raw ``[0, 255]`` RGB pixels the way a backbone was trained.

    Args:
        mode: One of ``"caffe"``, ``"tf"``, ``"torch"``, ``"none"``; see
            :func:`apply_preprocessing`.
        **kwargs: Standard ``keras.layers.Layer`` arguments (``name``, ``dtype``...).

    Raises:
        ConfigError: ``mode`` is unknown.

    Examples:
        >>> import keras
        >>> inputs = keras.Input((32, 32, 3))
        >>> outputs = Preprocess(mode="torch", name="preprocess")(inputs)
        >>> Preprocess.from_config(Preprocess(mode="torch").get_config()).mode
        'torch'
    """

    def __init__(self, mode: str = "none", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode = _check_mode(mode)

    def call(self, inputs: Any) -> Any:
        return apply_preprocessing(inputs, self.mode)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config["mode"] = self.mode
        return config
