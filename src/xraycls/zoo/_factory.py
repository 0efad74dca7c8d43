"""``build_model``: backbone + preprocessing layer + the paper's head, as one Keras model.

Examples:
    >>> from xraycls.zoo import build_model
    >>> m = build_model("simple_cnn", num_classes=3, input_shape=(32, 32, 3), width=4)
    >>> m.name, m.output.shape
    ('simple_cnn', (None, 3))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras

from xraycls.errors import ConfigError, PluginError, WeightsError, XrayclsError
from xraycls.zoo._head import add_head
from xraycls.zoo._preprocess import Preprocess
from xraycls.zoo._registry import BackboneSpec, _ensure_plugins, get_backbone
from xraycls.zoo._text import short_error
from xraycls.zoo._weights import check_weights_file, resolve_imagenet

__all__ = ["build_model"]


def _check_input_shape(spec: BackboneSpec, input_shape: Any) -> tuple[int, int, int]:
    try:
        shape = tuple(int(v) for v in input_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or shape != tuple(input_shape) or min(shape) < 1:
        raise ConfigError(
            f"input_shape must be (height, width, 3) positive ints, got {input_shape!r}"
        )
    if shape[2] != 3:
        raise ConfigError(
            f"input_shape {shape!r}: models take RGB images, the last axis must be 3 "
            "(grey images are replicated to 3 channels by xraycls.load_image)"
        )
    if min(shape[:2]) < spec.min_input_size:
        raise ConfigError(
            f"input_shape {shape!r} is too small for {spec.name!r}: height and width must be "
            f">= {spec.min_input_size}"
        )
    return (shape[0], shape[1], shape[2])


def _check_head_args(num_classes: Any, head_width: Any, dropout: Any) -> None:
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
        raise ConfigError(f"num_classes must be an int >= 2, got {num_classes!r}")
    if not isinstance(head_width, int) or isinstance(head_width, bool) or head_width < 1:
        raise ConfigError(f"head_width must be a positive int, got {head_width!r}")
    if not isinstance(dropout, (int, float)) or not 0.0 <= float(dropout) < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout!r}")


def _split_weights(
    spec: BackboneSpec,
    weights: str | os.PathLike[str] | None,
    sha256: str | None,
    allow_download: bool | None,
) -> tuple[str | None, Path | None]:
    """Return (what the backbone factory gets, whole-model weights file to load afterwards)."""
    if weights is None:
        if sha256 is not None:
            raise ConfigError("sha256 was given but weights=None: there is no file to check")
        return None, None
    if isinstance(weights, str) and weights.lower() == "imagenet":
        if spec.source == "builtin":
            path = resolve_imagenet(spec.name, allow_download=allow_download, sha256=sha256)
            return os.fspath(path), None
        if sha256 is not None:
            raise ConfigError(
                f"sha256 cannot be checked for the plugin backbone {spec.name!r} with "
                "weights='imagenet' (its provider fetches the file); pass a file path instead"
            )
        return "imagenet", None
    if not isinstance(weights, (str, os.PathLike)):
        raise ConfigError(
            f"weights must be None, 'imagenet' or a file path, got {type(weights).__name__}"
        )
    path = check_weights_file(weights, sha256)
    if path.name.endswith(".weights.h5"):
        return None, path
    if path.suffix == ".h5":
        return os.fspath(path), None
    raise WeightsError(
        f"weights file {os.fspath(path)!r} is not supported: use a '.weights.h5' file of the "
        "whole model (model.save_weights) or the backbone's own '.h5' file in the "
        "keras.applications layout; to load a saved '.keras' model use xraycls.load_model"
    )


def _build_backbone(
    spec: BackboneSpec, shape: tuple[int, int, int], x: Any, weights: str | None, kwargs: Any
) -> tuple[keras.Model, Any]:
    """Call the factory; return the backbone model and its feature map on ``x``."""
    try:
        if spec.accepts_input_tensor:
            backbone = spec.factory(shape, weights=weights, input_tensor=x, **kwargs)
        else:
            backbone = spec.factory(shape, weights=weights, **kwargs)
    except XrayclsError:
        raise
    except Exception as exc:
        where = f"{spec.source} backbone {spec.name!r} (provided by {spec.provider})"
        detail = short_error(exc)
        if isinstance(exc, TypeError) and kwargs:
            raise ConfigError(f"{where} rejected the arguments {sorted(kwargs)}: {detail}") from exc
        if weights is not None and weights != "imagenet":
            raise WeightsError(f"{where}: could not load weights {weights!r}: {detail}") from exc
        error = PluginError if spec.source != "builtin" else ConfigError
        raise error(f"{where} could not be built for input_shape={shape}: {detail}") from exc
    if not isinstance(backbone, keras.Model):
        raise PluginError(
            f"backbone {spec.name!r} (provided by {spec.provider}): the factory must return a "
            f"keras.Model, got {type(backbone).__name__}"
        )
    features = backbone.output if spec.accepts_input_tensor else backbone(x)
    if spec.accepts_input_tensor:
        # Compare the model's declared inputs, not get_source_inputs(features): that walks
        # every path of the graph and is exponential on residual networks.
        wanted = {id(t) for t in keras.utils.get_source_inputs(x)}
        if not wanted & {id(t) for t in backbone.inputs}:
            raise PluginError(
                f"backbone {spec.name!r} (provided by {spec.provider}) declares "
                "accepts_input_tensor but did not build its layers on input_tensor"
            )
    if len(features.shape) != 4:
        raise PluginError(
            f"backbone {spec.name!r} (provided by {spec.provider}) must return a headless "
            f"model whose output is a 4-D feature map (batch, h, w, c), got shape "
            f"{tuple(features.shape)}"
        )
    return backbone, features


def build_model(
    name: str,
    num_classes: int = 3,
    input_shape: tuple[int, int, int] = (128, 128, 3),
    weights: str | os.PathLike[str] | None = None,
    *,
    sha256: str | None = None,
    allow_download: bool | None = None,
    include_preprocessing: bool = True,
    head_width: int = 512,
    dropout: float = 0.5,
    freeze_backbone: bool = False,
    seed: int | None = None,
    **backbone_kwargs: Any,
) -> keras.Model:
    """Build a classifier: ``Input -> Preprocess -> backbone -> paper head``.

    The model takes raw RGB pixel values in ``[0, 255]`` (float32) and returns class
    probabilities. It is named after the backbone. For built-in backbones it is one flat graph,
    so the last conv layer is ``model.get_layer(<name>)``; a plugin backbone that does not
    accept ``input_tensor`` is one nested layer named by its factory.

    Args:
        name: Backbone name or alias (case-insensitive), see :func:`list_models`.
        num_classes: Units of the softmax output (>= 2).
        input_shape: ``(height, width, 3)``; height and width >= the spec's ``min_input_size``.
        weights: ``None`` (random init), ``"imagenet"`` (built-ins: from the Keras cache, see
            ``docs/zoo.md``; plugins: passed to the factory), a ``.weights.h5`` file of the
            whole model (from ``model.save_weights``; same backbone, classes and head), or the
            backbone's own ``.h5`` file (``keras.applications`` layout, e.g. the cached
            ImageNet file).
        sha256: Expected sha256 of the weights file; a mismatch raises ``WeightsError``.
        allow_download: Whether missing ImageNet weights may be downloaded; ``None`` reads
            ``XRAYCLS_ALLOW_DOWNLOAD``, then probes the host for 1.5 s.
        include_preprocessing: Put the backbone's ``Preprocess`` layer in the model (default).
            With ``False`` the model expects preprocessed input: apply
            ``get_backbone(name).preprocess`` in the input pipeline.
        head_width: Units of the head's hidden dense layer (paper: 512).
        dropout: Head dropout rate (default 0.5).
        freeze_backbone: Make the backbone's layers non-trainable (the paper does not).
        seed: If given, seeds Keras's global random generator first
            (``keras.utils.set_random_seed``) so the initial weights are reproducible.
        **backbone_kwargs: Passed to the backbone factory (e.g. ``width=4`` for
            ``simple_cnn``).

    Returns:
        An uncompiled functional ``keras.Model``.

    Raises:
        UnknownModelError: Unknown name (lists close matches).
        ConfigError: Bad shape, class count, head argument or backbone argument.
        WeightsError: Weights missing, not downloadable, corrupt or not matching.
        PluginError: A plugin factory failed or returned something unusable.

    Examples:
        >>> m = build_model("simple_cnn", num_classes=2, input_shape=(32, 32, 3), width=4)
        >>> [layer.name for layer in m.layers[-5:]]
        ['head_pool', 'head_dense', 'head_bn', 'head_dropout', 'predictions']
    """
    _ensure_plugins()
    spec = get_backbone(name)
    shape = _check_input_shape(spec, input_shape)
    _check_head_args(num_classes, head_width, dropout)
    backbone_weights, model_weights = _split_weights(spec, weights, sha256, allow_download)
    if seed is not None:
        keras.utils.set_random_seed(int(seed))

    inputs = keras.Input(shape=shape, dtype="float32", name="image")
    x = (
        Preprocess(mode=spec.preprocessing, name="preprocess")(inputs)
        if include_preprocessing
        else inputs
    )
    backbone, features = _build_backbone(spec, shape, x, backbone_weights, backbone_kwargs)
    if freeze_backbone:
        backbone.trainable = False
    outputs = add_head(
        features, num_classes, head_width=head_width, dropout=float(dropout), seed=seed
    )
    model = keras.Model(inputs, outputs, name=spec.name)

    if model_weights is not None:
        try:
            model.load_weights(model_weights)
        except Exception as exc:
            raise WeightsError(
                f"could not load {os.fspath(model_weights)!r} into {spec.name!r} "
                f"(num_classes={num_classes}, head_width={head_width}): "
                f"{short_error(exc)}. A '.weights.h5' file must come from a model "
                "built with the same backbone, arguments and number of classes."
            ) from exc
    return model
