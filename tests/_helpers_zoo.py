"""Test helpers for the model zoo: registry snapshots, fake entry points, fake weight files."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import keras

from xraycls.zoo import _registry


@contextlib.contextmanager
def registry_snapshot() -> Iterator[None]:
    """Restore the backbone registry (and the plugin-discovery flag) after the block."""
    reg = _registry._REGISTRY
    specs, keys, loaded = dict(reg.specs), dict(reg.keys), reg.plugins_loaded
    try:
        yield
    finally:
        reg.specs.clear()
        reg.specs.update(specs)
        reg.keys.clear()
        reg.keys.update(keys)
        reg.plugins_loaded = loaded


class FakeEntryPoint:
    """Duck-typed ``importlib.metadata.EntryPoint`` whose ``load`` returns or raises."""

    def __init__(
        self, name: str, obj: Any = None, *, error: Exception | None = None, dist: str = "fake-dist"
    ) -> None:
        self.name = name
        self.value = f"fake_module_{name}:factory"
        self.group = _registry.ENTRY_POINT_GROUP
        self.dist = SimpleNamespace(name=dist)
        self._obj = obj
        self._error = error

    def load(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._obj


def tiny_backbone(
    input_shape: tuple[int, int, int], weights: str | None = None, **kwargs: Any
) -> keras.Model:
    """A nested-style (no ``input_tensor``) headless backbone for registry tests."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(kwargs.get("filters", 4), 3, padding="same", name="t_conv")(inputs)
    return keras.Model(inputs, x, name="tiny_backbone")


def flat_backbone(
    input_shape: tuple[int, int, int],
    weights: str | None = None,
    *,
    input_tensor: Any = None,
    **kwargs: Any,
) -> keras.Model:
    """A flat-capable backbone (accepts ``input_tensor``) for registry tests."""
    inputs = keras.Input(input_shape) if input_tensor is None else input_tensor
    x = keras.layers.Conv2D(4, 3, padding="same", name="flat_conv")(inputs)
    source = keras.utils.get_source_inputs(inputs) if input_tensor is not None else inputs
    return keras.Model(source, x, name="flat_backbone")


def write_legacy_h5(model: keras.Model, path: Path) -> Path:
    """Write ``model``'s weights in the keras.applications ``.h5`` layout (like the cache)."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as fh:
        legacy_h5_format.save_weights_to_hdf5_group(fh, model)
    return path
