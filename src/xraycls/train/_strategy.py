"""The TensorFlow seam of training: distribution strategies, devices, determinism.

Everything that touches ``tf.distribute`` or ``tf.config`` lives here, so the rest of
:mod:`xraycls.train` is plain Keras. TensorFlow is imported inside the functions, so importing
the trainer does not import it.

Examples:
    >>> from xraycls.train._strategy import resolve_strategy, replicas
    >>> replicas(resolve_strategy(None)) >= 1
    True
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import keras

from xraycls.errors import ConfigError

__all__ = [
    "build_in_scope",
    "enable_determinism",
    "gpu_available",
    "replicas",
    "resolve_strategy",
    "strategy_name",
]

StrategyLike = Any  # tf.distribute.Strategy | str | None

# name -> tf.distribute attribute; "multiworker" reads the cluster from the TF_CONFIG
# environment variable (see docs/distributed.md).
_NAMES: dict[str, str] = {
    "default": "get_strategy",
    "mirrored": "MirroredStrategy",
    "multiworker": "MultiWorkerMirroredStrategy",
    "multi_worker_mirrored": "MultiWorkerMirroredStrategy",
}


def resolve_strategy(spec: StrategyLike) -> Any:
    """A ``tf.distribute.Strategy`` from a name, an instance, or ``None`` (no distribution).

    Args:
        spec: ``None``/``"default"``, ``"mirrored"`` (all local GPUs, or the CPU),
            ``"multiworker"`` (cluster from ``TF_CONFIG``) or a strategy instance.

    Raises:
        ConfigError: Unknown name or object.
    """
    import tensorflow as tf

    if spec is None:
        return tf.distribute.get_strategy()
    if isinstance(spec, str):
        name = _NAMES.get(spec.lower())
        if name is None:
            raise ConfigError(
                f"unknown distribution strategy {spec!r}; use one of {sorted(_NAMES)} or pass "
                "a tf.distribute.Strategy"
            )
        factory: Callable[[], Any] = getattr(tf.distribute, name)
        return factory()
    if isinstance(spec, tf.distribute.Strategy):
        return spec
    raise ConfigError(
        f"strategy must be None, a name or a tf.distribute.Strategy; got {type(spec).__name__}"
    )


def strategy_name(strategy: Any) -> str:
    """A short name for logs and ``config.json``."""
    return type(strategy).__name__


def replicas(strategy: Any) -> int:
    """Number of replicas that share each global batch."""
    return int(strategy.num_replicas_in_sync)


def is_distributed(strategy: Any) -> bool:
    """Whether ``strategy`` is anything other than the default (no-op) strategy."""
    import tensorflow as tf

    return not isinstance(strategy, type(tf.distribute.get_strategy())) or replicas(strategy) > 1


def gpu_available() -> bool:
    """Whether TensorFlow sees a GPU."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def enable_determinism(enabled: bool) -> None:
    """Switch TensorFlow op determinism on (bitwise-reproducible kernels, slower on GPU)."""
    if enabled:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


@contextlib.contextmanager
def _dtype_policy(name: str | None) -> Iterator[None]:
    if name is None:
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_in_scope(
    strategy: Any,
    model_or_builder: keras.Model | Callable[[], keras.Model],
    *,
    dtype_policy: str | None = None,
) -> keras.Model:
    """Create the model whose variables training will update, inside ``strategy.scope()``.

    A builder callable is simply called inside the scope (and under ``dtype_policy``). A model
    that already exists is returned unchanged when neither distribution nor a dtype change is
    asked for; otherwise it is cloned from its config inside the scope and its weights copied,
    because variables created outside a strategy's scope cannot be mirrored. The output layer
    is kept in float32 under mixed precision, so softmax and the loss stay numerically safe.

    Args:
        strategy: The resolved strategy.
        model_or_builder: A ``keras.Model`` or a zero-argument callable returning one.
        dtype_policy: ``"mixed_float16"`` etc., or ``None`` to keep the current policy.

    Raises:
        ConfigError: The builder did not return a Keras model.
    """
    with strategy.scope(), _dtype_policy(dtype_policy):
        if not isinstance(model_or_builder, keras.Model):
            model = model_or_builder()
            if not isinstance(model, keras.Model):
                raise ConfigError(
                    f"the model builder returned {type(model).__name__}, not a keras.Model"
                )
            return model
        source = model_or_builder
        if dtype_policy is None and not is_distributed(strategy):
            return source
        output_names = {layer.name for layer in source.layers[-1:]}

        def clone_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
            config = layer.get_config()
            if (
                dtype_policy is not None
                and "dtype" in config
                and not isinstance(layer, keras.layers.InputLayer)
            ):
                config["dtype"] = "float32" if layer.name in output_names else dtype_policy
            return type(layer).from_config(config)

        clone = keras.models.clone_model(source, clone_function=clone_layer)
        clone.set_weights(source.get_weights())
        return clone
