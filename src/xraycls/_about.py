"""The installed version, in a module of its own so that any layer can read it without
importing the top-level package (whose type-checking block names every subpackage)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("xraycls")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
    __version__ = "0.0.0+unknown"
