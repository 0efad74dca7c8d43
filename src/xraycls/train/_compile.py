"""Backend seam: fewer compiled programs, and JAX's persistent compilation cache (issue #20).

On JAX every new input shape is a new XLA program: a last, smaller batch compiles the
training step (or the evaluation step) a second time, and compiling a deep backbone costs
minutes on a GPU (448 s for densenet201's three programs on an H200). So on JAX:

* :func:`fixed_batch_shapes` is true: the trainer drops the last partial training batch of
  every epoch (each shuffled epoch drops other images), and validation and test batches are
  padded to the batch size with zero-weight rows (:class:`xraycls.data.ImageBatches`
  ``pad_remainder``; :func:`xraycls.evaluation.evaluate`), so one training step, one test
  step and one prediction step are compiled per model.
* :func:`enable_jax_cache` points ``jax_compilation_cache_dir`` at a user cache folder, so
  a second process (a rerun, a resume) loads the programs instead of compiling them.

Elsewhere both are no-ops: TensorFlow's ``tf.function`` traces once with an unknown batch
dimension (its results are unchanged by this module), and PyTorch runs eagerly.

Examples:
    >>> from xraycls.train._compile import cache_folder
    >>> cache_folder({"XRAYCLS_JAX_CACHE": "off"}) is None
    True
    >>> str(cache_folder({"XDG_CACHE_HOME": "/c"}))
    '/c/xraycls/jax'
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras

__all__ = [
    "CacheStats",
    "cache_folder",
    "enable_jax_cache",
    "fixed_batch_shapes",
    "padded_validation_loss",
    "predict_padded",
]

log = logging.getLogger("xraycls.train")

ENV = "XRAYCLS_JAX_CACHE"
_OFF = ("off", "0", "false", "no", "none", "")

# Cache hits and misses of this process, counted by a jax.monitoring listener.
_EVENTS = {"hits": 0, "misses": 0}
_listening = False


def fixed_batch_shapes() -> bool:
    """Whether every batch must have the same shape to avoid recompiling (JAX)."""
    return str(keras.backend.backend()) == "jax"


class _ValidationLossScale(keras.callbacks.Callback):
    """Multiplies the epoch's ``val_loss`` by ``padded / real`` rows (see
    :func:`padded_validation_loss`), before the callbacks that read it."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None and logs.get("val_loss") is not None:
            logs["val_loss"] = float(logs["val_loss"]) * self.factor


def padded_validation_loss(val_input: Any) -> list[keras.callbacks.Callback]:
    """The callback that makes ``val_loss`` the mean over the real validation images when the
    last batch is padded (empty otherwise).

    Keras's loss is ``sum(weight * loss) / batch size`` and its epoch mean weights each batch
    by its size, so zero-weight padding rows leave the sum of the real images' losses divided
    by ``real + padding`` rows; this rescales it. (Weighted accuracy needs no correction.)
    """
    padding = int(getattr(val_input, "padding", 0) or 0)
    if not padding:
        return []
    size = int(val_input.size)
    return [_ValidationLossScale((size + padding) / size)]


def predict_padded(model: keras.Model, x: Any, batch_size: int) -> Any:
    """``model.predict(x, batch_size=batch_size)``, on JAX with ``x`` padded by zero images to
    a multiple of ``batch_size`` (their outputs dropped): no program for a smaller last batch."""
    n = len(x)
    if fixed_batch_shapes() and n % batch_size:
        import numpy as np

        x = np.asarray(x)
        x = np.concatenate([x, np.zeros((batch_size - n % batch_size, *x.shape[1:]), x.dtype)])
    return model.predict(x, batch_size=batch_size, verbose=0)[:n]


def cache_folder(environ: Mapping[str, str] | None = None) -> Path | None:
    """Where the persistent cache lives: ``$XRAYCLS_JAX_CACHE``, else
    ``$XDG_CACHE_HOME/xraycls/jax``, else ``~/.cache/xraycls/jax``; ``None`` when
    ``XRAYCLS_JAX_CACHE=off``."""
    env = os.environ if environ is None else environ
    if ENV in env:
        value = env[ENV].strip()
        return None if value.lower() in _OFF else Path(value).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "xraycls" / "jax"


@dataclasses.dataclass
class CacheStats:
    """What the persistent compilation cache held and served.

    Attributes:
        folder: The cache folder.
        entries_before: Compiled programs in it when it was enabled.
        hits: Programs this process loaded from it so far (no compile).
        misses: Programs this process compiled (and wrote to it) so far.
    """

    folder: str
    entries_before: int
    hits: int = 0
    misses: int = 0
    _hits0: int = dataclasses.field(default=0, repr=False)
    _misses0: int = dataclasses.field(default=0, repr=False)

    def update(self) -> CacheStats:
        """Read this process's counters since :func:`enable_jax_cache` and the folder again."""
        self.hits = _EVENTS["hits"] - self._hits0
        self.misses = _EVENTS["misses"] - self._misses0
        return self

    @property
    def entries_after(self) -> int:
        return count_entries(Path(self.folder))

    def to_dict(self) -> dict[str, Any]:
        self.update()
        return {
            "folder": self.folder,
            "entries_before": self.entries_before,
            "entries_after": self.entries_after,
            "hits": self.hits,
            "misses": self.misses,
        }

    def to_text(self) -> str:
        d = self.to_dict()
        return (
            f"JAX compilation cache {d['folder']}: {d['entries_before']} -> "
            f"{d['entries_after']} entries, {d['hits']} hits, {d['misses']} compiled"
        )


def count_entries(folder: Path) -> int:
    """Compiled programs in a JAX cache folder (JAX also keeps an ``-atime`` file per entry)."""
    if not folder.is_dir():
        return 0
    return sum(1 for p in folder.iterdir() if p.is_file() and not p.name.endswith("-atime"))


def _listen() -> None:
    global _listening
    if _listening:
        return
    import jax

    def on_event(event: str, **_: Any) -> None:
        if event == "/jax/compilation_cache/cache_hits":
            _EVENTS["hits"] += 1
        elif event == "/jax/compilation_cache/cache_misses":
            _EVENTS["misses"] += 1

    jax.monitoring.register_event_listener(on_event)
    _listening = True


def enable_jax_cache(folder: str | os.PathLike[str] | None = None) -> CacheStats | None:
    """Turn on JAX's persistent compilation cache in ``folder`` (default :func:`cache_folder`).

    Every program is cached however quickly it compiled (``min_compile_time_secs=0``), so CPU
    compiles are cached too. A no-op returning ``None`` off JAX or with
    ``XRAYCLS_JAX_CACHE=off``.

    Returns:
        A :class:`CacheStats` whose :meth:`CacheStats.to_dict` reports the entries before and
        after and this process's hits and misses.
    """
    if str(keras.backend.backend()) != "jax":
        return None
    path = Path(folder).expanduser() if folder is not None else cache_folder()
    if path is None:
        return None
    import jax

    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("JAX compilation cache off: cannot create %s (%s)", path, exc)
        return None
    before = count_entries(path)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    # JAX decides once, at its first compile, whether the cache is used: let it decide again
    # (a process that compiled before this call would otherwise never cache).
    from jax.experimental.compilation_cache import compilation_cache

    compilation_cache.reset_cache()
    _listen()
    return CacheStats(str(path), before, _hits0=_EVENTS["hits"], _misses0=_EVENTS["misses"])
