"""Picking a Keras backend that is installed, before Keras is first imported.

Keras reads ``KERAS_BACKEND`` (else ``~/.keras/keras.json``) once, at its first import, and
defaults to TensorFlow. Since TensorFlow is an optional extra (``xraycls[tensorflow]``,
``[jax]``, ``[torch]``; docs/decisions.md), an environment with only JAX or only PyTorch would
fail on ``import keras`` with "No module named 'tensorflow'". This module runs first when
``xraycls`` is imported and, only when the user chose nothing and TensorFlow is absent, sets
``KERAS_BACKEND`` to the installed one. It never imports a framework (``find_spec`` only looks).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

__all__ = ["choose_backend"]

#: The order of preference when nothing was chosen: Keras's own default first.
PREFERENCE: tuple[str, ...] = ("tensorflow", "jax", "torch")


def _configured() -> bool:
    if os.environ.get("KERAS_BACKEND"):
        return True
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    try:
        return bool(json.loads((home / "keras.json").read_text(encoding="utf-8")).get("backend"))
    except (OSError, ValueError, AttributeError):
        return False


def choose_backend() -> str | None:
    """Set ``KERAS_BACKEND`` to the first installed of TensorFlow, JAX, PyTorch, if unset.

    Does nothing once Keras is imported or when ``KERAS_BACKEND`` or ``keras.json`` names a
    backend: the user's choice always wins.

    Returns:
        The backend set, or ``None`` when nothing was changed.

    Examples:
        >>> from xraycls._keras_backend import choose_backend
        >>> choose_backend() is None  # Keras is already imported in the doctest run
        True
    """
    if "keras" in sys.modules or _configured():
        return None
    for name in PREFERENCE:
        if importlib.util.find_spec(name) is not None:
            if name != "tensorflow":  # Keras's default needs no variable
                os.environ["KERAS_BACKEND"] = name
                return name
            return None
    return None
