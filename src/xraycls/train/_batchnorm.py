"""Backend seam: BatchNorm batch statistics from one compiled training-mode forward pass.

:class:`xraycls.train._callbacks.RecomputeBatchNorm` re-estimates BatchNorm statistics from a
few training batches before every validation. Called eagerly (``model(x, training=True)``),
Keras dispatches every layer from Python: 0.17 s per 32-image batch of ``quick``'s small model
on TensorFlow (0.09 s compiled), and seconds per batch for a 700-layer backbone on JAX, where
eager means op-by-op. So the forward pass is compiled once per run with the backend's own
tool (``tf.function``, ``jax.jit`` over ``stateless_call``); PyTorch runs eagerly anyway.

It is compiled once per model (issue #20): the compiled function is kept with the model (every
epoch and a resumed ``fit`` in the same process reuse it), and on JAX the trainer feeds it full
batches only (the last partial training batch is dropped there), so one program serves every
call. ``traces()`` on the returned function says how many were made.

The BatchNorm layers' ``momentum`` must be ``0`` while the returned function is first called
(it is traced then): each call then returns the batch's own mean and variance per layer.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import keras
import numpy as np

__all__ = ["batch_statistics"]

Stats = list[tuple[np.ndarray, np.ndarray]]


class Forward(Protocol):
    """``f(batch) -> stats``, with ``f.traces()``: the programs compiled so far."""

    def __call__(self, batch: np.ndarray) -> Stats: ...

    def traces(self) -> int: ...


class _Run:
    def __init__(self, run: Callable[[np.ndarray], Stats], traces: Callable[[], int]) -> None:
        self._run, self._traces = run, traces

    def __call__(self, batch: np.ndarray) -> Stats:
        return self._run(batch)

    def traces(self) -> int:
        return self._traces()


# One compiled forward pass per (model, BatchNorm layers), dropped with the model.
_COMPILED: weakref.WeakKeyDictionary[Any, tuple[tuple[int, ...], Forward]] = (
    weakref.WeakKeyDictionary()
)


def batch_statistics(
    model: keras.Model, layers: Sequence[keras.layers.BatchNormalization]
) -> Forward:
    """A function ``f(batch) -> [(mean, variance) per layer]`` for ``layers`` of ``model``,
    compiled once per model and set of layers (later calls return the same function).

    Examples:
        >>> import keras, numpy as np
        >>> inp = keras.Input((4,))
        >>> bn = keras.layers.BatchNormalization(momentum=0.0)
        >>> model = keras.Model(inp, bn(inp))
        >>> f = batch_statistics(model, [bn])
        >>> mean, var = f(np.array([[0.0] * 4, [2.0] * 4], "float32"))[0]
        >>> mean.tolist(), var.tolist()
        ([1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0])
        >>> batch_statistics(model, [bn]) is f
        True
    """
    key = tuple(id(layer) for layer in layers)
    found = _COMPILED.get(model)
    if found is not None and found[0] == key:
        return found[1]
    backend = keras.backend.backend()
    forward: Forward
    if backend == "jax":
        forward = _jax(model, layers)
    elif backend == "tensorflow":
        forward = _tensorflow(model, layers)
    else:
        forward = _eager(model, layers)
    _COMPILED[model] = (key, forward)
    return forward


def _read(layers: Sequence[keras.layers.BatchNormalization]) -> Stats:
    return [
        (
            np.asarray(keras.ops.convert_to_numpy(layer.moving_mean)),
            np.asarray(keras.ops.convert_to_numpy(layer.moving_variance)),
        )
        for layer in layers
    ]


def _eager(model: keras.Model, layers: Sequence[keras.layers.BatchNormalization]) -> Forward:
    def run(batch: np.ndarray) -> Stats:
        model(batch, training=True)
        return _read(layers)

    return _Run(run, lambda: 0)


def _tensorflow(model: keras.Model, layers: Sequence[keras.layers.BatchNormalization]) -> Forward:
    import tensorflow as tf

    # The moving statistics are assigned inside the graph; reading them back is cheap. Traced
    # for the full batch, and at most once more for a smaller last batch (then for any size):
    # TensorFlow compiles no XLA program here, and a fixed signature could change the numbers.
    forward = tf.function(lambda x: model(x, training=True), reduce_retracing=True)

    def run(batch: np.ndarray) -> Stats:
        forward(tf.convert_to_tensor(batch))
        return _read(layers)

    return _Run(run, lambda: int(forward.experimental_get_tracing_count()))


def _jax(model: keras.Model, layers: Sequence[keras.layers.BatchNormalization]) -> Forward:
    import jax

    where = {id(v): i for i, v in enumerate(model.non_trainable_variables)}
    picks = [(where[id(layer.moving_mean)], where[id(layer.moving_variance)]) for layer in layers]

    @jax.jit
    def forward(trainable: Any, non_trainable: Any, x: Any) -> Any:
        _, updated = model.stateless_call(trainable, non_trainable, x, training=True)
        return [(updated[m], updated[v]) for m, v in picks]

    def run(batch: np.ndarray) -> Stats:
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        out = forward(trainable, non_trainable, batch)
        return [(np.asarray(m), np.asarray(v)) for m, v in out]

    return _Run(run, lambda: int(forward._cache_size()))
