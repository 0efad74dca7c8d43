"""Finding the layer to explain and splitting a model around it.

A model is cut into ``features`` (images -> target feature maps) and ``head`` (feature maps ->
pre-softmax class scores). Both halves reuse the model's own layers, so no weights are copied.
When the target sits inside a nested sub-model (a plugin backbone), the cut is made at every
level: the outer layers before the sub-model, the sub-model up to the target, the rest of the
sub-model, then the outer layers after it. This avoids Keras's "Graph disconnected" error that
comes from mixing tensors of the outer and inner graphs.
"""

from __future__ import annotations

import difflib
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras

from xraycls.errors import ConfigError

Tensor = Any

# Layers that pass a pooled vector through unchanged at inference time.
_PASS_THROUGH = (keras.layers.Dropout, keras.layers.Identity, keras.layers.Flatten)


@dataclass(frozen=True)
class _Split:
    """A model cut at its target layer."""

    target: str
    features: Callable[[Tensor], Tensor]
    head: Callable[[Tensor], Tensor]
    # The layers from the target to the class scores, in order, when they form a simple chain.
    head_layers: tuple[Any, ...] | None


_CACHE: weakref.WeakKeyDictionary[Any, dict[str, _Split]] = weakref.WeakKeyDictionary()


def _is_model(layer: Any) -> bool:
    return isinstance(layer, keras.Model) and hasattr(layer, "layers")


def _rank(layer: Any) -> int:
    try:
        out = layer.output
    except (AttributeError, ValueError):
        return -1
    if isinstance(out, (list, tuple)):
        return -1
    return len(out.shape)


# 4D layers that only subsample or pass maps through: a trailing one (VGG's block5_pool) would
# give a coarser map than the convolution before it, so the search looks past them.
_PASSIVE_4D = (
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
    keras.layers.ZeroPadding2D,
    keras.layers.Dropout,
    keras.layers.SpatialDropout2D,
)


def _search(model: Any, skip_passive: bool = True) -> list[str] | None:
    for layer in reversed(model.layers):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if _is_model(layer):
            inner = _search(layer, skip_passive)
            if inner is not None:
                return [layer.name, *inner]
            if _rank(layer) == 4 and not skip_passive:
                return [layer.name]
            continue
        if _rank(layer) == 4 and not (skip_passive and isinstance(layer, _PASSIVE_4D)):
            return [layer.name]
    return _search(model, skip_passive=False) if skip_passive else None


def find_target_layer(model: keras.Model) -> str:
    """Name the layer whose feature maps a class activation map is computed from.

    This is the last layer with a 4D output ``(N, h, w, C)`` before global pooling, looking past
    trailing pooling, padding and dropout layers: the last convolutional block of the backbone.
    When the backbone is a nested sub-model, the name is a path ``"outer/inner"``, which
    :func:`xraycls.cam` accepts as ``layer=``.

    Args:
        model: A Keras functional or sequential model.

    Returns:
        The layer name, or ``"submodel/layer"`` for a layer inside a nested model.

    Raises:
        ConfigError: The model has no layer with a 4D output.

    Examples:
        >>> import xraycls
        >>> model = xraycls.build_model("simple_cnn", input_shape=(32, 32, 3), width=4)
        >>> xraycls.find_target_layer(model)  # doctest: +SKIP
        'conv3_act'
    """
    path = _search(model)
    if path is None:
        raise ConfigError(
            f"model {model.name!r} has no layer with a 4D (N, height, width, channels) output, "
            "so there is no feature map to build a class activation map from."
        )
    return "/".join(path)


def _all_paths(model: Any, prefix: str = "") -> list[str]:
    paths = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        path = prefix + layer.name
        paths.append(path)
        if _is_model(layer):
            paths.extend(_all_paths(layer, path + "/"))
    return paths


def _resolve(model: Any, layer: str) -> list[str]:
    """Turn a user's layer name or path into a path of names that exists in ``model``."""
    paths = _all_paths(model)
    if layer in paths:
        return layer.split("/")
    # A bare inner name is accepted when it is unique, so users need not know the nesting.
    suffix = [p for p in paths if p.endswith("/" + layer)]
    if len(suffix) == 1:
        return suffix[0].split("/")
    if len(suffix) > 1:
        raise ConfigError(f"layer={layer!r} is ambiguous; use one of the paths {suffix}.")
    names = {p.rsplit("/", 1)[-1]: p for p in paths}
    close = difflib.get_close_matches(layer, paths, n=5, cutoff=0.5)
    close += [names[n] for n in difflib.get_close_matches(layer, list(names), n=5, cutoff=0.5)]
    close = list(dict.fromkeys(close))[:5]
    hint = f" Close matches: {close}." if close else ""
    raise ConfigError(
        f"layer={layer!r} is not a layer of model {model.name!r}.{hint} "
        f"Leave layer=None to use find_target_layer(model) = {find_target_layer(model)!r}."
    )


def _node_in(model: Any, layer: Any) -> Any:
    """The call of ``layer`` that belongs to ``model``'s graph (a layer may be called elsewhere)."""
    keys = getattr(model, "_nodes", ())
    for i, node in enumerate(layer._inbound_nodes):
        if f"{id(layer)}_ib-{i}" in keys:
            return node
    return layer._inbound_nodes[0]


def _single(tensors: Any) -> Any:
    if isinstance(tensors, (list, tuple)):
        if len(tensors) != 1:
            raise ConfigError(f"CAM needs single-input, single-output layers; got {len(tensors)}.")
        return tensors[0]
    return tensors


def _chain(start: Any, end: Any) -> list[Any] | None:
    """Layers from ``start`` (exclusive) to ``end`` (inclusive) if they form a simple chain."""
    layers = []
    tensor = end
    while tensor is not start:
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            return None
        op = history[0]
        inputs = op._inbound_nodes[history[1]].input_tensors
        if len(inputs) != 1:
            return None
        layers.append(op)
        tensor = inputs[0]
    return layers[::-1]


def _sub(inputs: Any, outputs: Any, what: str) -> Callable[[Tensor], Tensor]:
    if outputs is inputs:
        return lambda x: x
    if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
        inputs = inputs[0]  # a one-element list makes Keras warn about the input structure
    try:
        sub = keras.Model(inputs, outputs)
    except ValueError as exc:
        raise ConfigError(
            f"cannot cut the model at {what}: the rest of the network does not depend on it "
            f"alone (it has a skip connection around it?). Choose a later layer. ({exc})"
        ) from exc
    return lambda x: sub(x, training=False)


def _compose(*fns: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    def run(x: Tensor) -> Tensor:
        for fn in fns:
            x = fn(x)
        return x

    return run


def _split_level(model: Any, path: Sequence[str], end: Any) -> tuple[Any, ...]:
    """Split ``model`` at ``path``; the head stops at tensor ``end`` of ``model``'s graph."""
    layer = model.get_layer(path[0])
    node = _node_in(model, layer)
    if len(path) == 1:
        feat = _single(node.output_tensors)
        if len(feat.shape) != 4:
            raise ConfigError(
                f"layer {path[0]!r} outputs shape {tuple(feat.shape)}; CAM needs a 4D feature "
                f"map (N, height, width, channels). Try find_target_layer(model)."
            )
        chain = _chain(feat, end)
        return _sub(model.inputs, feat, path[0]), _sub(feat, end, path[0]), chain
    if not _is_model(layer):
        raise ConfigError(f"layer {path[0]!r} is not a nested model, so {path!r} is not a path.")
    layer_in, layer_out = _single(node.input_tensors), _single(node.output_tensors)
    inner_features, inner_head, inner_chain = _split_level(layer, path[1:], layer.outputs[0])
    outer_chain = _chain(layer_out, end)
    chain = None
    if inner_chain is not None and outer_chain is not None:
        chain = inner_chain + outer_chain
    features = _compose(_sub(model.inputs, layer_in, path[0]), inner_features)
    head = _compose(inner_head, _sub(layer_out, end, path[0]))
    return features, head, chain


def _score_end(model: Any) -> tuple[Any, Callable[[Tensor], Tensor], Any]:
    """Where the head stops and how to get pre-softmax scores from there.

    Returns ``(tensor, to_logits, final_dense_or_None)``.
    """
    if len(model.outputs) != 1:
        raise ConfigError(f"CAM needs a model with one output; {model.name!r} has more.")
    out = model.outputs[0]
    op = out._keras_history[0]
    inputs = op._inbound_nodes[out._keras_history[1]].input_tensors
    if isinstance(op, keras.layers.Dense):
        # Explaining the logit, not the softmax probability, is what makes Grad-CAM equal CAM
        # and keeps gradients from vanishing on confident predictions.
        def logits(h: Tensor) -> Tensor:
            # float32 whatever the layer's dtype policy (mixed precision computes in float16).
            z = keras.ops.matmul(keras.ops.cast(h, "float32"), keras.ops.cast(op.kernel, "float32"))
            return z + keras.ops.cast(op.bias, "float32") if op.use_bias else z

        return inputs[0], logits, op
    if isinstance(op, (keras.layers.Activation, keras.layers.Softmax)):
        return inputs[0], lambda x: x, None
    return out, lambda x: x, None


def split_model(model: keras.Model, layer: str | None = None) -> _Split:
    """Cut ``model`` at ``layer`` (default: :func:`find_target_layer`); cached per model."""
    target = "/".join(_resolve(model, layer)) if layer else find_target_layer(model)
    cached = _CACHE.setdefault(model, {})
    if target in cached:
        return cached[target]
    end, to_logits, final = _score_end(model)
    features, head, chain = _split_level(model, target.split("/"), end)
    if chain is not None and final is not None:
        chain = [*chain, final]
    split = _Split(
        target=target,
        features=features,
        head=_compose(head, to_logits),
        head_layers=tuple(chain) if chain is not None else None,
    )
    cached[target] = split
    return split


def linear_head(split: _Split) -> Any:
    """The final Dense layer when the head is global average pooling + that one Dense layer.

    Raises:
        ConfigError: The head is anything else; the message lists it and suggests Grad-CAM.
    """
    chain = split.head_layers
    ok = chain is not None and len(chain) >= 2
    if ok and chain is not None:
        ok = (
            isinstance(chain[0], keras.layers.GlobalAveragePooling2D)
            and isinstance(chain[-1], keras.layers.Dense)
            and all(isinstance(x, _PASS_THROUGH) for x in chain[1:-1])
        )
    if ok and chain is not None:
        return chain[-1]
    described = (
        " -> ".join(f"{x.name} ({type(x).__name__})" for x in chain)
        if chain
        else "not a simple chain of layers"
    )
    raise ConfigError(
        "method='cam' (Zhou et al. 2016) is only defined when the feature maps go through global "
        "average pooling and then one Dense layer to the class scores; after "
        f"{split.target!r} this model has: {described}. Use method='gradcam', which equals CAM "
        "on such heads and works for any head."
    )
