"""The backend seam of training: distribution, devices, determinism, mixed precision.

Everything that touches ``tf.distribute``/``tf.config``, ``keras.distribution`` (JAX) or
``torch`` lives here, so the rest of :mod:`xraycls.train` is plain Keras and imports under every
Keras backend. Each framework is imported inside the function that needs it: importing this
module never imports TensorFlow.

* TensorFlow: a ``tf.distribute.Strategy`` (``"mirrored"``, ``"multiworker"`` or an instance).
* JAX: ``keras.distribution.DataParallel`` over the local devices (``"mirrored"`` or
  ``"data_parallel"``), or over every process's devices after
  ``keras.distribution.initialize()`` (``"multiworker"``); a ``keras.distribution`` instance
  is accepted too.
* PyTorch: one device per process; Keras has no data-parallel ``fit`` for PyTorch (see
  ``docs/distributed.md`` for the route).

Examples:
    >>> from xraycls.train._strategy import resolve_strategy, replicas
    >>> replicas(resolve_strategy(None)) >= 1
    True
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import keras

from xraycls.errors import ConfigError

__all__ = [
    "accelerator",
    "build_in_scope",
    "enable_determinism",
    "gpu_available",
    "mixed_precision_policy",
    "replicas",
    "resolve_strategy",
    "strategy_name",
]

StrategyLike = Any  # tf.distribute.Strategy | keras.distribution.Distribution | str | None

_TF_NAMES = ("default", "mirrored", "multiworker", "multi_worker_mirrored")
_JAX_NAMES = ("default", "mirrored", "data_parallel", "multiworker", "multi_worker_mirrored")


def _backend() -> str:
    return str(keras.backend.backend())


class KerasDistribution:
    """A ``keras.distribution`` (or nothing) behind the ``tf.distribute.Strategy`` interface the
    trainer uses: ``scope()`` and ``num_replicas_in_sync``.

    Args:
        distribution: A ``keras.distribution.Distribution``, or ``None`` for one device.
    """

    def __init__(self, distribution: Any = None) -> None:
        self.distribution = distribution
        if distribution is None:
            self.num_replicas_in_sync = 1
        else:
            # Data parallel: the batch is split along the mesh axis named batch_dim_name.
            mesh, axis = distribution.device_mesh, distribution.batch_dim_name
            self.num_replicas_in_sync = int(mesh.shape[list(mesh.axis_names).index(axis)])

    def scope(self) -> contextlib.AbstractContextManager[Any]:
        """Variables created inside get the distribution's layout (replicated for data parallel)."""
        if self.distribution is None:
            return contextlib.nullcontext()
        return self.distribution.scope()

    @property
    def name(self) -> str:
        return type(self.distribution).__name__ if self.distribution is not None else "default"


def _resolve_tf(spec: StrategyLike) -> Any:
    import tensorflow as tf

    names: dict[str, Callable[[], Any]] = {
        "default": tf.distribute.get_strategy,
        "mirrored": tf.distribute.MirroredStrategy,
        # Reads the cluster from the TF_CONFIG environment variable (see docs/distributed.md).
        "multiworker": tf.distribute.MultiWorkerMirroredStrategy,
        "multi_worker_mirrored": tf.distribute.MultiWorkerMirroredStrategy,
    }
    if spec is None:
        return tf.distribute.get_strategy()
    if isinstance(spec, str):
        factory = names.get(spec.lower())
        if factory is None:
            raise ConfigError(
                f"unknown distribution strategy {spec!r}; use one of {sorted(names)} or pass "
                "a tf.distribute.Strategy"
            )
        return factory()
    if isinstance(spec, tf.distribute.Strategy):
        return spec
    raise ConfigError(
        f"strategy must be None, a name or a tf.distribute.Strategy; got {type(spec).__name__}"
    )


def _resolve_jax(spec: StrategyLike) -> KerasDistribution:
    if spec is None or isinstance(spec, KerasDistribution):
        return spec or KerasDistribution()
    if hasattr(spec, "device_mesh") and hasattr(spec, "scope"):  # a keras.distribution layout
        return KerasDistribution(spec)
    if not isinstance(spec, str):
        raise ConfigError(
            "strategy must be None, a name or a keras.distribution.Distribution under the JAX "
            f"backend; got {type(spec).__name__}"
        )
    name = spec.lower()
    if name not in _JAX_NAMES:
        raise ConfigError(
            f"unknown distribution strategy {spec!r} for the JAX backend; use one of "
            f"{sorted(_JAX_NAMES)} or pass a keras.distribution.Distribution"
        )
    if name == "default":
        return KerasDistribution()
    if name.startswith("multi"):
        # Reads the coordinator address, process count and id from the environment
        # (KERAS_DISTRIBUTION_JOB_ADDRESS, ..._NUM_PROCESSES, ..._PROCESS_ID; docs/distributed.md).
        keras.distribution.initialize()
    devices = keras.distribution.list_devices()
    return KerasDistribution(keras.distribution.DataParallel(devices=devices))


def resolve_strategy(spec: StrategyLike) -> Any:
    """The distribution to train under, for the active Keras backend.

    Args:
        spec: ``None``/``"default"`` (one device), ``"mirrored"`` (all local GPUs, or the CPU),
            ``"multiworker"`` (TensorFlow: cluster from ``TF_CONFIG``; JAX: from
            ``keras.distribution.initialize``'s environment variables), JAX also
            ``"data_parallel"``; or an instance (``tf.distribute.Strategy`` on TensorFlow,
            ``keras.distribution.Distribution`` on JAX).

    Returns:
        A ``tf.distribute.Strategy`` on TensorFlow, else a :class:`KerasDistribution`; both
        have ``scope()`` and ``num_replicas_in_sync``.

    Raises:
        ConfigError: Unknown name or object, or distribution asked for under PyTorch.
    """
    backend = _backend()
    if backend == "tensorflow":
        return _resolve_tf(spec)
    if backend == "jax":
        return _resolve_jax(spec)
    if spec is None or (isinstance(spec, str) and spec.lower() == "default"):
        return KerasDistribution()
    if isinstance(spec, KerasDistribution) and spec.distribution is None:
        return spec
    raise ConfigError(
        f"strategy={spec!r}: Keras has no data-parallel fit for the {backend!r} backend; train "
        "on one device per process, or use KERAS_BACKEND=jax (keras.distribution) or "
        "tensorflow (tf.distribute) for several devices. See docs/distributed.md."
    )


def strategy_name(strategy: Any) -> str:
    """A short name for logs and ``config.json``."""
    if isinstance(strategy, KerasDistribution):
        return strategy.name
    return type(strategy).__name__


def replicas(strategy: Any) -> int:
    """Number of replicas that share each global batch."""
    return int(strategy.num_replicas_in_sync)


def is_distributed(strategy: Any) -> bool:
    """Whether ``strategy`` is anything other than the default (no-op) strategy."""
    if isinstance(strategy, KerasDistribution):
        return strategy.distribution is not None
    import tensorflow as tf

    return not isinstance(strategy, type(tf.distribute.get_strategy())) or replicas(strategy) > 1


def accelerator() -> str:
    """The kind of device the active backend computes on: ``"gpu"``, ``"tpu"`` or ``"cpu"``.

    Asks the backend itself (TensorFlow's device list, ``jax.devices()``,
    ``torch.cuda.is_available()``), so it is right whichever framework has the GPU.

    Examples:
        >>> from xraycls.train._strategy import accelerator
        >>> accelerator() in ("cpu", "gpu", "tpu")
        True
    """
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        for kind in ("GPU", "TPU"):
            if tf.config.list_physical_devices(kind):
                return kind.lower()
        return "cpu"
    if backend == "jax":
        import jax

        platform = jax.default_backend()
        return "gpu" if platform in ("gpu", "cuda", "rocm") else str(platform)
    if backend == "torch":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    return "cpu"


def gpu_available() -> bool:
    """Whether the active Keras backend sees a GPU."""
    return accelerator() == "gpu"


def _bf16_gpu() -> bool:
    """Whether the GPU computes bfloat16 natively (NVIDIA compute capability 8.0, Ampere, up)."""
    backend = _backend()
    try:
        if backend == "torch":
            import torch

            return bool(torch.cuda.is_bf16_supported())
        if backend == "jax":
            import jax

            cc = getattr(jax.devices()[0], "compute_capability", None)
            return cc is not None and float(cc) >= 8.0
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        cc = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
        return cc is not None and tuple(cc) >= (8, 0)
    except Exception:  # unknown device details: float16 is the safe choice on any GPU
        return False


def mixed_precision_policy(mode: str) -> str | None:
    """The Keras dtype policy for ``TrainConfig.mixed_precision``, asking the backend's device.

    ``"off"`` keeps float32 (``None``). On a GPU, ``"auto"`` and ``"on"`` give
    ``"mixed_bfloat16"`` where the GPU computes bfloat16 natively (Ampere and later: no loss
    scaling needed), else ``"mixed_float16"``. On a CPU, ``"auto"`` stays float32 (see
    docs/backends.md for the CPU measurement behind that) and ``"on"`` gives
    ``"mixed_float16"``. ``"bfloat16"`` and ``"float16"`` force that compute type anywhere.

    Examples:
        >>> from xraycls.train._strategy import mixed_precision_policy
        >>> mixed_precision_policy("off") is None
        True
    """
    if mode == "off":
        return None
    if mode in ("bfloat16", "float16"):
        return f"mixed_{mode}"
    if accelerator() == "gpu":
        return "mixed_bfloat16" if _bf16_gpu() else "mixed_float16"
    return "mixed_float16" if mode == "on" else None


def enable_determinism(enabled: bool) -> None:
    """Ask the backend for deterministic kernels (bitwise-reproducible, slower on GPU)."""
    if not enabled:
        return
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        # warn_only: a few ops (some scatter kernels) have no deterministic CUDA version.
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    elif backend == "jax":
        # Read when XLA compiles; takes effect for every program compiled from here on.
        flag = "--xla_gpu_deterministic_ops=true"
        flags = os.environ.get("XLA_FLAGS", "")
        if flag not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} {flag}".strip()


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
